// Hub configuration: one zod schema, settable by flags and by a YAML file (flags win).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { tryParseDuration } from '../config/duration.ts';
import { checkPathRoutes } from './public-gateway/gateway-routes.ts';

export const HubConfigSchema = z.object({
  host: z.string().default('127.0.0.1').describe('Address the hub listens on.'),
  port: z.number().int().min(0).max(65535).default(8090).describe('Port for agents, the admin API and the Kubernetes API gateway (0 = ephemeral).'),
  agent_tokens: z.array(z.string().min(8)).min(1, 'at least one agent token is required (--agent-token)').describe('Tokens agents present (pipeops.token).'),
  admin_tokens: z.array(z.string().min(8)).default([]).describe('Tokens for the admin API (GET /api/v1/clusters).'),
  user_tokens: z.array(z.string().min(8)).default([]).describe('Tokens users present to the Kubernetes API gateway (kubectl).'),
  state: z.string().default('hub-state.db').describe("SQLite file for clusters and routes; ':memory:' keeps nothing."),
  public_url: z.string().default('').describe('Base URL agents use to reach this hub (for gateway_ws_url); derived from the request when empty.'),
  handoff: z.boolean().default(true).describe('Hand registered agents off to the gateway endpoint, as the PipeOps controller does.'),
  tls: z
    .object({ cert_file: z.string(), key_file: z.string(), ca_file: z.string().optional() })
    .optional()
    .describe('Serve HTTPS/WSS with this certificate (kubectl only sends tokens over HTTPS).'),
  kube_port: z.number().int().min(0).max(65535).default(6443).describe('HTTPS port of the Kubernetes API gateway (kubectl → /clusters/<id>/k8s/…; 0 = ephemeral).'),
  proxy_timeout: z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const r = tryParseDuration(v, 'ms');
      if (!r.ok || r.ms <= 0) {
        ctx.addIssue({ code: 'custom', message: r.ok ? 'must be positive' : r.message });
        return z.NEVER;
      }
      return r.ms;
    })
    .default(60_000)
    .describe('Kubernetes API gateway: how long to wait for an agent to answer a request (watch/follow: until the status arrives); "60s", or milliseconds.'),
  gateway_port: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('Public HTTP gateway port (apps by Host + path, through the tunnel or directly). Default 8088; 0 = ephemeral, also the default when `port` is 0.'),
  gateway_tls_port: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('Public HTTPS gateway port, served when `gateway_tls` has certificates. Default 8443; 0 = ephemeral, also the default when `port` is 0.'),
  gateway_tls: z
    .array(z.object({ hosts: z.array(z.string().min(1)).min(1), cert_file: z.string(), key_file: z.string() }))
    .default([])
    .describe('Certificates for custom domains on the HTTPS gateway, chosen by SNI (`*.example.com` allowed); the first is the default.'),
  path_routes: z
    .array(
      z.object({
        host: z.string().optional(),
        path_prefix: z.string().startsWith('/'),
        cluster: z.string().min(1),
        namespace: z.string().min(1),
        service: z.string().min(1),
        port: z.number().int().min(1).max(65535),
        strip_prefix: z.boolean().default(false),
      }),
    )
    .default([])
    .describe('Path routes to in-cluster Services through the agent (webhook gateways): host (optional) + path prefix → cluster id or name, namespace/service:port.'),
  direct_allowed_cidrs: z.array(z.string()).default([]),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
});
export type HubConfig = z.infer<typeof HubConfigSchema>;
export type PathRouteConfig = HubConfig['path_routes'][number];

/** The public gateway's port: `gateway_port`, else 8088 — or ephemeral when the hub itself is (port 0). */
export function gatewayPort(cfg: HubConfig): number {
  return cfg.gateway_port ?? (cfg.port === 0 ? 0 : 8088);
}

/** The HTTPS gateway's port (only served with `gateway_tls`): default 8443, ephemeral when the hub is. */
export function gatewayTlsPort(cfg: HubConfig): number {
  return cfg.gateway_tls_port ?? (cfg.port === 0 ? 0 : 8443);
}

const FLAGS: Record<string, { key: keyof HubConfig; list?: boolean; num?: boolean; bool?: boolean }> = {
  '--host': { key: 'host' },
  '--port': { key: 'port', num: true },
  '--kube-port': { key: 'kube_port', num: true },
  '--gateway-port': { key: 'gateway_port', num: true },
  '--gateway-tls-port': { key: 'gateway_tls_port', num: true },
  '--proxy-timeout': { key: 'proxy_timeout' },
  '--agent-token': { key: 'agent_tokens', list: true },
  '--admin-token': { key: 'admin_tokens', list: true },
  '--user-token': { key: 'user_tokens', list: true },
  '--state': { key: 'state' },
  '--public-url': { key: 'public_url' },
  '--log-level': { key: 'log_level' },
  '--no-handoff': { key: 'handoff', bool: true },
};

export const HUB_HELP = `Usage: pipeops-agent hub [flags]
       pipeops-agent hub kubeconfig --cluster <name|id> [--state file] [--server url] [--user-token t]

Runs the self-hostable control plane: agent registration and tunnel endpoint, admin API, the Kubernetes
API gateway (kubectl reaches a cluster through its agent's tunnel at https://host:kube-port/clusters/<id>/k8s),
the route registry (POST /api/v1/gateway/routes/{register,sync,unregister}) and the public gateway (apps by
Host + path on --gateway-port, through the tunnel or directly; path routes and TLS certificates: --config).
"hub kubeconfig" prints a kubeconfig for one registered cluster.

Flags:
  --config <file>        YAML file with the keys below (flags win)
  --host <addr>          listen address (default 127.0.0.1)
  --port <n>             listen port (default 8090; 0 = ephemeral)
  --kube-port <n>        Kubernetes API gateway HTTPS port (default 6443; 0 = ephemeral)
  --gateway-port <n>     public HTTP gateway port (default 8088; 0 = ephemeral, default when --port is 0)
  --gateway-tls-port <n> public HTTPS gateway port when gateway_tls is configured (default 8443)
  --proxy-timeout <d>    gateways: wait this long for an agent's answer (default 60s)
  --agent-token <t>      token agents must present (repeatable)
  --admin-token <t>      token for the admin API (repeatable)
  --user-token <t>       token for the Kubernetes API gateway (repeatable)
  --state <file>         SQLite state file (default hub-state.db; ':memory:' keeps nothing)
  --public-url <url>     base URL agents use to reach the hub (gateway hand-off)
  --tls-cert <file>      serve HTTPS with this certificate (needs --tls-key); without it the Kubernetes
                         gateway mints a CA and certificate once and keeps them in <state>.tls/
  --tls-key <file>
  --tls-ca <file>        CA of that certificate, put into kubeconfigs (omit for publicly trusted certs)
  --no-handoff           keep agents on the controller socket (no gateway hand-off)
  --log-level <level>    trace|debug|info|warn|error
  --help, --version
`;

export type HubConfigResult = { ok: true; config: HubConfig } | { ok: false; message: string };

/** Parse hub flags (and the file named by --config); every problem is reported at once. */
export function loadHubConfig(argv: string[], env: Record<string, string | undefined>): HubConfigResult {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  let file: string | undefined = env.PIPEOPS_HUB_CONFIG;
  const fromFlags: Record<string, unknown> = {};
  const tls: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const next = () => inline ?? argv[++i];
    if (flag === '--config') file = next();
    else if (flag === '--tls-cert') tls.cert_file = next() ?? '';
    else if (flag === '--tls-key') tls.key_file = next() ?? '';
    else if (flag === '--tls-ca') tls.ca_file = next() ?? '';
    else if (FLAGS[flag]) {
      const f = FLAGS[flag]!;
      if (f.bool) fromFlags[f.key] = false;
      else {
        const v = next();
        if (v === undefined) problems.push(`${flag} needs a value`);
        else if (f.list) fromFlags[f.key] = [...((fromFlags[f.key] as string[]) ?? []), v];
        else if (f.num) fromFlags[f.key] = Number(v);
        else fromFlags[f.key] = v;
      }
    } else problems.push(`unknown flag ${flag}`);
  }
  if (file) {
    try {
      const doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
      if (typeof doc !== 'object' || Array.isArray(doc)) problems.push(`${file}: expected a YAML mapping`);
      else Object.assign(raw, doc);
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
    }
  }
  Object.assign(raw, fromFlags);
  if (tls.cert_file || tls.key_file) raw.tls = { ...(raw.tls as object), ...tls };
  if (env.PIPEOPS_HUB_AGENT_TOKEN && !raw.agent_tokens) raw.agent_tokens = [env.PIPEOPS_HUB_AGENT_TOKEN];
  if (env.PIPEOPS_HUB_ADMIN_TOKEN && !raw.admin_tokens) raw.admin_tokens = [env.PIPEOPS_HUB_ADMIN_TOKEN];
  const parsed = HubConfigSchema.safeParse(raw);
  if (!parsed.success) for (const i of parsed.error.issues) problems.push(`${i.path.join('.') || 'config'}: ${i.message}`);
  else problems.push(...checkPathRoutes(parsed.data.path_routes));
  if (problems.length || !parsed.success) return { ok: false, message: `invalid hub configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}` };
  return { ok: true, config: parsed.data };
}
