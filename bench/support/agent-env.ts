// What every bench gives the agent it starts: a kubeconfig pointing at the stand-in API server, and the environment
// of an out-of-cluster agent registered with the bench hub (state and logs in the run's temporary directory).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
