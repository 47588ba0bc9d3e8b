// What every bench gives the agent it starts: a kubeconfig pointing at the stand-in API server, and the environment
// of an out-of-cluster agent registered with the bench hub (state and logs in the run's temporary directory).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** Writes `<dir>/kubeconfig` for `server` (bearer token `bench-sa`; `caFile` verifies it, else TLS is not verified). */
export function writeBenchKubeconfig(dir: string, server: string, caFile?: string): string {
  const kubeconfig = join(dir, 'kubeconfig');
  const tls = caFile ? `certificate-authority: "${caFile}"` : 'insecure-skip-tls-verify: true';
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${server}", ${tls}}}]\nusers: [{name: b, user: {token: bench-sa}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\n`,
  );
  return kubeconfig;
}

/** The agent's environment: registered as cluster `bench` with `apiUrl`, local port 0, warnings only. */
export function benchAgentEnv(o: { dir: string; apiUrl: string; token: string; kubeconfig: string }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: o.dir,
    PIPEOPS_API_URL: o.apiUrl,
    PIPEOPS_TOKEN: o.token,
    PIPEOPS_CLUSTER_NAME: 'bench',
    PIPEOPS_PORT: '0',
    PIPEOPS_STATE_FILE: join(o.dir, 'agent-state.yaml'),
    PIPEOPS_LOG_LEVEL: 'warn',
    KUBERNETES_IN_CLUSTER: 'false',
    KUBERNETES_KUBECONFIG: o.kubeconfig,
  };
}

/**
 * The environment the Helm chart gives the agent's process for its JavaScriptCore options (`jsc:` in
 * deploy/helm/pipeops-agent/values.yaml, each as BUN_JSC_<name>): a bench that runs the compiled binary as it ships
 * runs it with these.
 */
export function chartJscEnv(root: string): Record<string, string> {
  const values = parse(readFileSync(join(root, 'deploy/helm/pipeops-agent/values.yaml'), 'utf8')) as { jsc?: Record<string, unknown> | null };
  return Object.fromEntries(Object.entries(values.jsc ?? {}).map(([k, v]) => [`BUN_JSC_${k}`, String(v)]));
}
