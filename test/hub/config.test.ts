// The hub's configuration (src/hub/config/): precedence and provenance, every problem named with its source,
// secrets from env and from files, unknown keys warned, --print-config redacted, the generated reference current.
import { describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { renderHubConfigDocs } from '../../src/hub/config/docs.ts';
import { HUB_KEY_FLAGS, HUB_OTHER_FLAGS } from '../../src/hub/config/bindings.ts';
import { hubHelpText, hubLeaves, hubPrintConfig, loadHubConfig } from '../../src/hub/config/load.ts';
import { tempDir } from '../support/hub-agent.ts';

const AGENT = 'agent-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const USER = 'user-token-0123456789';

function ok(r: ReturnType<typeof loadHubConfig>) {
  if (!r.ok) throw new Error(r.message);
  return r;
}
function fail(r: ReturnType<typeof loadHubConfig>) {
  if (r.ok) throw new Error('expected an invalid configuration');
  return r;
}

describe('hub configuration', () => {
  test('flag beats env beats file beats default, and sources say so', () => {
    const dir = tempDir();
    const file = join(dir, 'hub.yaml');
    writeFileSync(file, 'port: 1111\nkube_port: 1112\nhost: 127.0.0.9\nproxy_timeout: 5s\n');
    const r = ok(loadHubConfig(['--config', file, '--port', '3333'], { PIPEOPS_HUB_PORT: '2222', PIPEOPS_HUB_KUBE_PORT: '2223', PIPEOPS_HUB_AGENT_TOKENS: AGENT }));
    expect(r.config.port).toBe(3333);
    expect(r.sources.port).toEqual({ kind: 'flag', name: '--port' });
    expect(r.config.kube_port).toBe(2223);
    expect(r.sources.kube_port).toEqual({ kind: 'env', name: 'PIPEOPS_HUB_KUBE_PORT' });
    expect(r.config.host).toBe('127.0.0.9');
    expect(r.sources.host).toEqual({ kind: 'file', name: file });
    expect(r.config.proxy_timeout).toBe(5000);
    expect(r.config.state).toBe('hub-state/hub.db');
    expect(r.sources.state).toEqual({ kind: 'default', name: 'default' });
    // PIPEOPS_HUB_CONFIG names the file when --config is absent.
    expect(ok(loadHubConfig([], { PIPEOPS_HUB_CONFIG: file, PIPEOPS_HUB_AGENT_TOKENS: AGENT })).config.port).toBe(1111);
  });

  test('three invalid settings over file, env and flags: one message, each with key, source and reason', () => {
    const dir = tempDir();
    const file = join(dir, 'hub.yaml');
    writeFileSync(file, 'proxy_timeout: soon\n');
    const r = fail(loadHubConfig(['--config', file, '--direct-allowed-cidrs', '10.0.0.0/99'], { PIPEOPS_HUB_PORT: 'abc', PIPEOPS_HUB_AGENT_TOKENS: AGENT }));
    expect(r.errors).toHaveLength(3);
    expect(r.message).toStartWith('invalid hub configuration (3 problems):\n');
    expect(r.message).toContain('  - port: expected a port 0–65535, got "abc" (from env PIPEOPS_HUB_PORT)');
    expect(r.message).toMatch(/ {2}- proxy_timeout: .* \(from file .*hub\.yaml\)/);
    expect(r.message).toContain('  - direct_allowed_cidrs[0]: expected a CIDR such as 10.20.0.0/16 or fd00::/8 (from flag --direct-allowed-cidrs)');
  });

  test('no agent token: the friendly message, with where to set it', () => {
    const r = fail(loadHubConfig([], {}));
    expect(r.message).toContain('agent_tokens: required, but not set (set env PIPEOPS_HUB_AGENT_TOKENS or PIPEOPS_HUB_AGENT_TOKENS_FILE, flag --agent-token-file');
    expect(r.message).not.toContain('expected array');
  });

  test('every secret from env and from a file; a file list is one token per line; both at once is an error', () => {
    const dir = tempDir();
    const f = (name: string, text: string) => {
      writeFileSync(join(dir, name), text, { mode: 0o600 });
      return join(dir, name);
    };
    const r = ok(
      loadHubConfig([], {
        PIPEOPS_HUB_AGENT_TOKENS_FILE: f('agent', `${AGENT}\n\n${AGENT}-2\n`),
        PIPEOPS_HUB_ADMIN_TOKEN_FILE: f('admin', `${ADMIN}\n`),
        PIPEOPS_HUB_USER_TOKENS: `${USER},${USER}-2`,
        PIPEOPS_HUB_CREDENTIALS_KEY_FILE: f('key', `${'ab'.repeat(32)}\n`),
      }),
    );
    expect(r.config.agent_tokens).toEqual([AGENT, `${AGENT}-2`]);
    expect(r.sources.agent_tokens).toEqual({ kind: 'env', name: 'PIPEOPS_HUB_AGENT_TOKENS_FILE' });
    expect(r.config.admin_tokens).toEqual([ADMIN]);
    expect(r.config.user_tokens).toEqual([USER, `${USER}-2`]);
    expect(r.config.credentials.key).toBe('ab'.repeat(32));
    expect(r.warnings).toEqual([]);
    // Rotation as the README describes it: the new key and the old key, each from its file.
    const rot = ok(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKENS: AGENT, PIPEOPS_HUB_CREDENTIALS_KEY_FILE: f('new.key', `${'cd'.repeat(32)}\n`), PIPEOPS_HUB_CREDENTIALS_PREVIOUS_KEYS_FILE: join(dir, 'key') }));
    expect(rot.config.credentials).toEqual({ key: 'cd'.repeat(32), previous_keys: ['ab'.repeat(32)] });
    // The single-token names of earlier releases still work.
    expect(ok(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKEN: AGENT })).config.agent_tokens).toEqual([AGENT]);
    // Flag files, repeatable.
    const flags = ok(loadHubConfig(['--agent-token-file', join(dir, 'agent'), '--user-token-file', join(dir, 'admin')], {}));
    expect(flags.config.agent_tokens).toEqual([AGENT, `${AGENT}-2`]);
    expect(flags.sources.agent_tokens).toEqual({ kind: 'flag', name: '--agent-token-file' });
    const both = fail(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKENS: AGENT, PIPEOPS_HUB_AGENT_TOKENS_FILE: join(dir, 'agent') }));
    expect(both.message).toContain('set PIPEOPS_HUB_AGENT_TOKENS or PIPEOPS_HUB_AGENT_TOKENS_FILE, not both');
    const missing = fail(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKENS_FILE: join(dir, 'nope') }));
    expect(missing.message).toContain(`agent_tokens: cannot read ${join(dir, 'nope')}: no such file (from env PIPEOPS_HUB_AGENT_TOKENS_FILE)`);
  });

  test('tokens on the command line still work (repeatable) but are a warning; a bad token is never echoed', () => {
    const r = ok(loadHubConfig(['--agent-token', AGENT, '--agent-token', `${AGENT}-2`, '--admin-token', ADMIN], {}));
    expect(r.config.agent_tokens).toEqual([AGENT, `${AGENT}-2`]);
    expect(r.warnings.join('\n')).toContain('--agent-token puts a secret on the command line, where ps and shell history show it; use PIPEOPS_HUB_AGENT_TOKENS_FILE');
    const bad = fail(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKENS: 'short7!', PIPEOPS_HUB_USER_TOKENS: 'tiny' }));
    expect(bad.message).toContain('agent_tokens[0]: every token needs at least 8 characters');
    expect(bad.message).not.toContain('short7!');
  });

  test('unknown keys are warnings with a suggestion (the admin_token typo)', () => {
    const dir = tempDir();
    const file = join(dir, 'hub.yaml');
    writeFileSync(file, `agent_tokens: [${AGENT}]\nadmin_token: ${ADMIN}\n`);
    const r = ok(loadHubConfig(['--config', file], {}));
    expect(r.config.admin_tokens).toEqual([]);
    expect(r.warnings).toEqual([`unknown configuration key "admin_token" in ${file} (ignored); did you mean "admin_tokens"?`]);
    const flag = fail(loadHubConfig(['--agent-tokn', AGENT], {}));
    expect(flag.message).toContain('unknown flag --agent-tokn (did you mean --agent-token?)');
  });

  test('--print-config: effective values with sources, every secret redacted, re-loadable YAML', () => {
    const r = ok(loadHubConfig(['--port', '0', '--print-config'], { PIPEOPS_HUB_AGENT_TOKENS: `${AGENT},${AGENT}-2`, PIPEOPS_HUB_CREDENTIALS_KEY: 'k'.repeat(44) }));
    expect(r.actions.printConfig).toBe(true);
    const out = hubPrintConfig(r);
    for (const s of [AGENT, 'k'.repeat(44)]) expect(out).not.toContain(s);
    expect(out).toContain('# from env PIPEOPS_HUB_AGENT_TOKENS');
    expect(out).toContain('port: 0 # from flag --port');
    const doc = parseYaml(out) as { agent_tokens: string[]; credentials: { key: string }; proxy_timeout: string };
    expect(doc.agent_tokens).toEqual(['<redacted>', '<redacted>']);
    expect(doc.credentials.key).toBe('<redacted>');
    expect(doc.proxy_timeout).toBe('1m');
  });

  test('tls: cert without key is one error naming both; --no-handoff; path routes keep their defaults', () => {
    const r = fail(loadHubConfig(['--tls-cert', '/c.pem'], { PIPEOPS_HUB_AGENT_TOKENS: AGENT }));
    expect(r.message).toContain('tls.key_file: tls.cert_file is set but tls.key_file is not; set both or neither (from flag --tls-cert)');
    expect(ok(loadHubConfig(['--no-handoff'], { PIPEOPS_HUB_AGENT_TOKENS: AGENT })).config.handoff).toBe(false);
    expect(ok(loadHubConfig([], { PIPEOPS_HUB_AGENT_TOKENS: AGENT })).config.handoff).toBe(true);
  });
});

describe('generated hub references', () => {
  test('docs/hub-configuration.md is up to date (run: bun scripts/gen-config-docs.ts)', () => {
    const committed = readFileSync(join(import.meta.dir, '..', '..', 'docs', 'hub-configuration.md'), 'utf8');
    expect(committed).toBe(renderHubConfigDocs());
  });

  test('every key is documented; every flag points at a real key and is in --help', () => {
    const doc = renderHubConfigDocs();
    for (const leaf of hubLeaves().list) {
      expect(leaf.description.length, leaf.key).toBeGreaterThan(5);
      expect(doc).toContain(`| \`${leaf.key}\` |`);
    }
    const help = hubHelpText();
    for (const f of [...HUB_KEY_FLAGS, ...HUB_OTHER_FLAGS]) {
      if (f.key) expect(hubLeaves().byKey(f.key), f.name).toBeDefined();
      expect(help).toContain(`--${f.name}`);
    }
  });
});
