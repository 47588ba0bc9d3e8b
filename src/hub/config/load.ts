// The hub's configuration through the shared loader (src/config/load.ts): flags > env (and `<NAME>_FILE` for
// secrets) > the YAML file (--config or $PIPEOPS_HUB_CONFIG) > defaults, every problem named with its key and
// source, unknown keys warned with a suggestion. Also `hub --help` and `hub --print-config`.
import { flagSections } from '../../config/help.ts';
import { LeafIndex } from '../../config/leaves.ts';
import { type ConfigModel, type LoadResultOf, loadWithModel } from '../../config/load.ts';
import { formatEffectiveConfig } from '../../config/redact.ts';
import { HUB_CONFIG_ENV, HUB_KEY_FLAGS, HUB_OTHER_FLAGS, hubEnvNamesFor } from './bindings.ts';
import { type HubConfig, HubConfigSchema } from './schema.ts';

let index: LeafIndex | null = null;

/** The hub's leaves ("agent_tokens", "tls.cert_file", ...). */
export function hubLeaves(): LeafIndex {
  index ??= new LeafIndex(HubConfigSchema);
  return index;
}

const HUB_MODEL: ConfigModel = {
  schema: HubConfigSchema,
  get leaves() {
    return hubLeaves();
  },
  flags: [...HUB_KEY_FLAGS, ...HUB_OTHER_FLAGS],
  envNamesFor: hubEnvNamesFor,
  // No search path: a hub reads a file only when told to.
  searchPaths: () => [],
  configEnv: HUB_CONFIG_ENV,
  secretFiles: true,
};

export type HubConfigResult = LoadResultOf<HubConfig>;

export function loadHubConfig(argv: string[], env: Record<string, string | undefined>, where: { cwd?: string; home?: string } = {}): HubConfigResult {
  const r = loadWithModel<HubConfig>(HUB_MODEL, { argv, env, cwd: where.cwd ?? process.cwd(), home: where.home ?? '' });
  return r.ok ? r : { ...r, message: r.message.replace(/^invalid configuration/, 'invalid hub configuration') };
}

export function hubPrintConfig(r: Extract<HubConfigResult, { ok: true }>): string {
  return formatEffectiveConfig(r.config, r.sources, { leaves: hubLeaves().list, program: 'pipeops-agent hub' });
}

export function hubHelpText(): string {
  return [
    'Usage: pipeops-agent hub [flags]',
    '       pipeops-agent hub kubeconfig --cluster <name|id> [--state file] [--server url] [--user-token t]',
    '',
    'Runs the self-hostable control plane: agent registration and tunnel endpoint, admin API, the Kubernetes',
    'API gateway (kubectl reaches a cluster through its agent: https://host:kube-port/clusters/<id>/k8s), the route',
    'registry and the public gateway (apps by Host + path, through the tunnel or directly).',
    '"hub kubeconfig" prints a kubeconfig for one registered cluster.',
    '',
    'Settings come from flags > environment > config file > defaults. Every key has an environment variable',
    'PIPEOPS_HUB_<KEY>; secrets can also be read from files (PIPEOPS_HUB_AGENT_TOKENS_FILE, …, one token per',
    'line). All keys: docs/hub-configuration.md.',
    '',
    ...flagSections(HUB_OTHER_FLAGS, HUB_KEY_FLAGS, hubLeaves()),
    '',
    'Exit codes: 2 = invalid configuration (every problem is listed with its source); 1 = the hub could not start.',
    '',
  ].join('\n');
}
