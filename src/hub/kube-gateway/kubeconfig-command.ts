// `pipeops-agent hub kubeconfig --cluster <name|id>`: prints a kubeconfig that reaches one registered cluster
// through the hub's Kubernetes API gateway. Reads the hub's state file (clusters) and `<state>.tls/` (CA and the
// gateway URL the running hub wrote there); runs beside a live hub.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isPostgresUrl, openHubStore, redactDatabaseUrl } from '../store/open-store.ts';
import type { ClusterRecord } from '../store/types.ts';
import { hubEnvNamesFor } from '../config/bindings.ts';
import { DEFAULT_STATE } from '../config/schema.ts';
import { gatewayDir, persistedCaPem } from './gateway-tls.ts';
import { renderGatewayKubeconfig } from './kubeconfig.ts';

export const HUB_KUBECONFIG_HELP = `Usage: pipeops-agent hub kubeconfig --cluster <name|id> [flags]

Prints a kubeconfig for one registered cluster: server https://<hub>:<kube-port>/clusters/<id>/k8s, the hub's
gateway CA, and a hub user token.

Flags:
  --cluster <name|id>    the cluster (required)
  --state <file>         the hub's state file (default $PIPEOPS_HUB_STATE, state: in --config, else ${DEFAULT_STATE})
  --server <url>         gateway base URL (default: the URL the running hub recorded, else https://<host>:<kube_port>)
  --user-token <t>       hub user token to embed (default: the first of $PIPEOPS_HUB_USER_TOKENS_FILE,
                         $PIPEOPS_HUB_USER_TOKENS, the first user_tokens entry of --config; visible in ps)
  --namespace <ns>       default namespace of the context
  --config <file>        the hub's YAML config (state, host, kube_port, user_tokens, tls.ca_file)
`;

interface Options {
  cluster?: string;
  state?: string;
  server?: string;
  token?: string;
  namespace?: string;
  config?: string;
}

const FLAGS: Record<string, keyof Options> = {
  '--cluster': 'cluster',
  '--state': 'state',
  '--server': 'server',
  '--user-token': 'token',
  '--namespace': 'namespace',
  '--config': 'config',
};

export type KubeconfigCommandResult = { ok: true; kubeconfig: string } | { ok: false; message: string };

/** The command without process I/O (tests call it directly). */
export async function buildKubeconfigFromState(argv: string[], env: Record<string, string | undefined>): Promise<KubeconfigCommandResult> {
  const o: Options = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const key = FLAGS[flag];
    if (!key) return { ok: false, message: `unknown flag ${flag}\n\n${HUB_KUBECONFIG_HELP}` };
    const v = inline ?? argv[++i];
    if (v === undefined) return { ok: false, message: `${flag} needs a value` };
    o[key] = v;
  }
  if (!o.cluster) return { ok: false, message: `--cluster is required\n\n${HUB_KUBECONFIG_HELP}` };
  let file: Record<string, unknown> = {};
  const configPath = o.config ?? env.PIPEOPS_HUB_CONFIG;
  if (configPath) {
    try {
      const doc = parseYaml(readFileSync(configPath, 'utf8')) ?? {};
      if (typeof doc === 'object' && !Array.isArray(doc)) file = doc as Record<string, unknown>;
    } catch (e) {
      return { ok: false, message: `${configPath}: ${(e as Error).message}` };
    }
  }
  const state = o.state ?? env.PIPEOPS_HUB_STATE ?? (typeof file.state === 'string' ? file.state : DEFAULT_STATE);
  // Hub replicas keep the clusters in PostgreSQL (`database`, as the hub reads it); else the SQLite file `state`.
  const databaseFile = env.PIPEOPS_HUB_DATABASE_FILE;
  const database = (databaseFile && existsSync(databaseFile) ? readFileSync(databaseFile, 'utf8').trim() : undefined) ?? env.PIPEOPS_HUB_DATABASE ?? (typeof file.database === 'string' ? file.database : '');
  const shared = isPostgresUrl(database);
  if (!shared && state === ':memory:') return { ok: false, message: "the hub runs with state ':memory:'; use kubeconfigFor() in-process instead" };
  if (!shared && !existsSync(state)) return { ok: false, message: `no hub state at ${state} (pass --state, the file the hub was started with)` };
  const userTokens = Array.isArray(file.user_tokens) ? file.user_tokens.filter((t): t is string => typeof t === 'string') : [];
  const token = o.token ?? userTokenFromEnv(env) ?? userTokens[0];
  if (!token) return { ok: false, message: 'no user token: set PIPEOPS_HUB_USER_TOKENS_FILE or PIPEOPS_HUB_USER_TOKENS, pass --user-token, or list user_tokens in --config' };

  let rec: ClusterRecord | null;
  try {
    const { store } = await openHubStore({ database: shared ? database : state, cipher: null });
    try {
      rec = await store.clusters.find(o.cluster);
    } finally {
      await store.close();
    }
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  if (!rec) return { ok: false, message: `cluster "${o.cluster}" is not registered with the hub (state ${shared ? redactDatabaseUrl(database) : state})` };

  const recorded = join(gatewayDir(state), 'kube-url');
  const host = typeof file.host === 'string' ? file.host : '127.0.0.1';
  const port = typeof file.kube_port === 'number' ? file.kube_port : 6443;
  const server = o.server ?? (existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : `https://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const tls = file.tls as { ca_file?: unknown } | undefined;
  let caPem = persistedCaPem(state);
  if (!caPem && typeof tls?.ca_file === 'string') caPem = readFileSync(tls.ca_file, 'utf8');
  return {
    ok: true,
    kubeconfig: renderGatewayKubeconfig({ gatewayUrl: server, clusterId: rec.cluster_id, clusterName: rec.name, caPem, userToken: token, ...(o.namespace ? { namespace: o.namespace } : {}) }),
  };
}

export async function runHubKubeconfigCommand(argv: string[], io: { env: Record<string, string | undefined> }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HUB_KUBECONFIG_HELP);
    return 0;
  }
  const r = await buildKubeconfigFromState(argv, io.env);
  if (!r.ok) {
    process.stderr.write(`hub kubeconfig: ${r.message}\n`);
    return 2;
  }
  process.stdout.write(r.kubeconfig);
  return 0;
}

/** The first user token from the hub's variables (the same names the hub reads, `_FILE` twins included). */
function userTokenFromEnv(env: Record<string, string | undefined>): string | undefined {
  for (const name of hubEnvNamesFor('user_tokens')) {
    const file = env[`${name}_FILE`];
    const raw = file && existsSync(file) ? readFileSync(file, 'utf8') : env[name];
    const first = raw?.split(/[\n,]/).map((t) => t.trim()).find(Boolean);
    if (first) return first;
  }
  return undefined;
}
