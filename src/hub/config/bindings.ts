// Where each hub key can come from besides the file: environment variables (`PIPEOPS_HUB_<KEY>` for every key, a
// few explicit names, and `<NAME>_FILE` for every secret) and command-line flags. --help and
// docs/hub-configuration.md are generated from these tables.
import type { FlagSpec } from '../../config/bindings.ts';

/** The env variable naming the config file when --config is not given. */
export const HUB_CONFIG_ENV = 'PIPEOPS_HUB_CONFIG';

/** Explicit names, read before the generic one (single tokens, as earlier releases documented them). */
export const HUB_ENV_BINDINGS: readonly { env: string; key: string }[] = [
  { env: 'PIPEOPS_HUB_AGENT_TOKEN', key: 'agent_tokens' },
  { env: 'PIPEOPS_HUB_ADMIN_TOKEN', key: 'admin_tokens' },
  { env: 'PIPEOPS_HUB_USER_TOKEN', key: 'user_tokens' },
];

/** `tls.cert_file` ⇐ `PIPEOPS_HUB_TLS_CERT_FILE`. */
export function hubGenericEnvName(key: string): string {
  return `PIPEOPS_HUB_${key.replace(/\./g, '_').toUpperCase()}`;
}

/** Env names read for a key, highest priority first (the generic name first: it is the documented one). */
export function hubEnvNamesFor(key: string): string[] {
  return [hubGenericEnvName(key), ...HUB_ENV_BINDINGS.filter((b) => b.key === key).map((b) => b.env)];
}

const secretHelp = (what: string, env: string) => `${what} (repeatable; visible in ps: prefer ${env}_FILE)`;

/** Flags that set a key. */
export const HUB_KEY_FLAGS: readonly FlagSpec[] = [
  { name: 'host', key: 'host', arg: 'addr', help: 'listen address' },
  { name: 'port', key: 'port', arg: 'n', help: 'agent endpoint and admin API port (0 = ephemeral)' },
  { name: 'kube-port', key: 'kube_port', arg: 'n', help: 'Kubernetes API gateway HTTPS port (0 = ephemeral)' },
  { name: 'gateway-port', key: 'gateway_port', arg: 'n', help: 'public HTTP gateway port' },
  { name: 'gateway-tls-port', key: 'gateway_tls_port', arg: 'n', help: 'public HTTPS gateway port (with gateway_tls)' },
  { name: 'proxy-timeout', key: 'proxy_timeout', arg: 'duration', help: "gateways: wait this long for an agent's answer" },
  { name: 'agent-token-file', key: 'agent_tokens', arg: 'path', file: true, repeatable: true, help: 'file with agent tokens, one per line' },
  { name: 'admin-token-file', key: 'admin_tokens', arg: 'path', file: true, repeatable: true, help: 'file with admin API tokens, one per line' },
  { name: 'user-token-file', key: 'user_tokens', arg: 'path', file: true, repeatable: true, help: 'file with Kubernetes gateway user tokens, one per line' },
  { name: 'agent-token', key: 'agent_tokens', arg: 'token', repeatable: true, help: secretHelp('agent token', 'PIPEOPS_HUB_AGENT_TOKENS') },
  { name: 'admin-token', key: 'admin_tokens', arg: 'token', repeatable: true, help: secretHelp('admin API token', 'PIPEOPS_HUB_ADMIN_TOKENS') },
  { name: 'user-token', key: 'user_tokens', arg: 'token', repeatable: true, help: secretHelp('Kubernetes gateway user token', 'PIPEOPS_HUB_USER_TOKENS') },
  { name: 'state', key: 'state', arg: 'file', help: "SQLite state file (':memory:' keeps nothing)" },
  { name: 'database-file', key: 'database', arg: 'path', file: true, help: 'file with the postgres:// URL of the database hub replicas share' },
  { name: 'public-url', key: 'public_url', arg: 'url', help: 'base URL agents use to reach the hub (gateway hand-off)' },
  { name: 'tls-cert', key: 'tls.cert_file', arg: 'file', help: 'serve HTTPS with this certificate (needs --tls-key)' },
  { name: 'tls-key', key: 'tls.key_file', arg: 'file', help: 'private key of --tls-cert' },
  { name: 'tls-ca', key: 'tls.ca_file', arg: 'file', help: 'CA of that certificate, put into kubeconfigs' },
  { name: 'no-handoff', key: 'handoff', boolean: true, negate: true, help: 'keep agents on the controller socket (no gateway hand-off)' },
  { name: 'direct-allowed-cidrs', key: 'direct_allowed_cidrs', arg: 'cidrs', repeatable: true, help: 'non-public ranges direct routes may reach (comma-separated, repeatable)' },
  { name: 'credentials-key-file', key: 'credentials.key', arg: 'path', file: true, help: 'file with the key that encrypts cluster credentials at rest' },
  { name: 'log-level', key: 'log_level', arg: 'level', help: 'trace, debug, info, warn, error' },
];

/** Flags the loader handles itself or hands to the command as actions. */
export const HUB_OTHER_FLAGS: readonly FlagSpec[] = [
  { name: 'config', arg: 'file', help: `YAML file with the keys of docs/hub-configuration.md (default: $${HUB_CONFIG_ENV})` },
  { name: 'set', arg: 'key=value', help: 'set any key, e.g. --set proxy_timeout=2m (repeatable)' },
  { name: 'print-config', boolean: true, help: "print the effective configuration (secrets redacted) with each value's source, then exit" },
  { name: 'help', boolean: true, help: 'show this help and exit' },
  { name: 'version', boolean: true, help: 'print the version and exit' },
];

export function hubFlagsFor(key: string): string[] {
  return HUB_KEY_FLAGS.filter((f) => f.key === key).map((f) => `--${f.name}`);
}
