// Running the compiled binary as a hub and an agent from an empty directory (bun-notes §3: paths like ./src/...
// silently load from disk in the repo), waiting on observable conditions only. Used by build.ts and the smoke test.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RSS_TARGET_MIB = 80;
export const SMOKE_AGENT_TOKEN = 'smoke-agent-token';
export const SMOKE_ADMIN_TOKEN = 'smoke-admin-token';

export type Proc = {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>;
  lines: string[];
  /** First stdout/stderr line matching `re`. */
  next(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number>;
};

export function emptyDir(prefix = 'pipeops-bin-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function watchLines(p: Bun.Subprocess<'ignore', 'pipe', 'pipe'>): Proc {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  void pump(p.stdout);
  void pump(p.stderr);
  return {
    proc: p,
    lines,
    next(re, timeoutMs = 20_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no output line matching ${re} within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`)), timeoutMs);
        const exited = p.exited.then((code) => {
          clearTimeout(t);
          reject(new Error(`process exited (${code}) before printing ${re}; last lines:\n${lines.slice(-15).join('\n')}`));
        });
        void exited;
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (p.exitCode !== null) return p.exitCode;
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
      const code = await p.exited;
      clearTimeout(t);
      return code;
    },
  };
}

export type HubProc = Proc & { url: string };

/** `pipeops-agent hub` on 127.0.0.1, ephemeral ports, state in memory (or `state`); `env` replaces PATH/HOME. */
export async function startBinaryHub(bin: string, cwd: string, o: { env?: Record<string, string>; state?: string } = {}): Promise<HubProc> {
  const p = Bun.spawn(
    [bin, 'hub', '--host', '127.0.0.1', '--port', '0', '--kube-port', '0', '--state', o.state ?? ':memory:', '--agent-token', SMOKE_AGENT_TOKEN, '--admin-token', SMOKE_ADMIN_TOKEN, '--log-level', 'warn'],
    { cwd, env: o.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  );
  const w = watchLines(p);
  const ready = JSON.parse(await w.next(/"event":"hub_ready"/)) as { url: string };
  return { ...w, url: ready.url };
}

export type SandboxProc = Proc & { url: string; kubeconfig: string };

/**
 * `pipeops-agent sandbox`: the demo cluster's API server on 127.0.0.1 and a kubeconfig for it at `kubeconfig`
 * (an agent with no Kubernetes API is not ready). `wrapper` runs it as another user, as for the agent.
 */
export async function startBinarySandbox(bin: string, cwd: string, o: { kubeconfig?: string; wrapper?: string[] } = {}): Promise<SandboxProc> {
  const kubeconfig = o.kubeconfig ?? join(cwd, 'sandbox.kubeconfig');
  const p = Bun.spawn([...(o.wrapper ?? []), bin, 'sandbox', '--kubeconfig', kubeconfig], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const w = watchLines(p);
  const ready = JSON.parse(await w.next(/"event":"sandbox_ready"/)) as { url: string };
  return { ...w, url: ready.url, kubeconfig };
}

export type AgentProc = Proc & { url: string };

export type AgentOptions = {
  cwd: string;
  stateFile: string;
  clusterName?: string;
  /** Prefix such as ['setpriv', '--reuid=65532', ...] to run the binary as another user. */
  wrapper?: string[];
  /** The cluster (KUBECONFIG): without one the agent registers but is not ready. */
  kubeconfig?: string;
  env?: Record<string, string>;
};

/** `pipeops-agent agent` outside a cluster (state in a file), local API on an ephemeral port. */
export async function startBinaryAgent(bin: string, hubUrl: string, o: AgentOptions): Promise<AgentProc> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.cwd,
    PIPEOPS_API_URL: hubUrl,
    PIPEOPS_TOKEN: SMOKE_AGENT_TOKEN,
    PIPEOPS_CLUSTER_NAME: o.clusterName ?? 'smoke-cluster',
    PIPEOPS_PORT: '0',
    AGENT_HOST: '127.0.0.1',
    PIPEOPS_STATE_FILE: o.stateFile,
    KUBERNETES_IN_CLUSTER: 'false',
    PIPEOPS_HEARTBEAT_INTERVAL: '1s',
    ...(o.kubeconfig ? { KUBECONFIG: o.kubeconfig } : {}),
    ...o.env,
  };
  const p = Bun.spawn([...(o.wrapper ?? []), bin, 'agent'], { cwd: o.cwd, env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const w = watchLines(p);
  const line = await w.next(/"msg":"local API listening"/);
  return { ...w, url: (JSON.parse(line) as { url: string }).url };
}

export type ClusterView = { name: string; connected: boolean; last_heartbeat: string | null; agent_version?: string };

export async function listClusters(hubUrl: string): Promise<ClusterView[]> {
  const r = await fetch(`${hubUrl}/api/v1/clusters`, { headers: { authorization: `Bearer ${SMOKE_ADMIN_TOKEN}` } });
  if (!r.ok) throw new Error(`GET /api/v1/clusters: HTTP ${r.status}`);
  return ((await r.json()) as { clusters: ClusterView[] }).clusters;
}

export async function poll<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${String(last)}`);
    await Bun.sleep(50);
  }
}

/** Registered, connected, at least one heartbeat, and /ready answers 200. */
export async function waitRegistered(hubUrl: string, agent: AgentProc, clusterName = 'smoke-cluster'): Promise<ClusterView> {
  const c = await poll(`cluster "${clusterName}" connected with a heartbeat at the hub`, async () =>
    (await listClusters(hubUrl)).find((x) => x.name === clusterName && x.connected && x.last_heartbeat),
  );
  await poll('agent /ready 200', async () => (await fetch(`${agent.url}/ready`)).status === 200);
  return c;
}

export function procStatus(pid: number): { rssKiB: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const num = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? Number.NaN);
  return { rssKiB: num('VmRSS'), threads: num('Threads') };
}

/** Idle RSS of the agent with all workers running, after it is registered and ready, then `idleMs` of idling. */
export async function measureIdleRss(bin: string, idleMs = 5000) {
  const hubDir = emptyDir();
  const agentDir = emptyDir();
  const hub = await startBinaryHub(bin, hubDir);
  let agent: AgentProc | undefined;
  let sandbox: SandboxProc | undefined;
  try {
    sandbox = await startBinarySandbox(bin, hubDir);
    const t0 = performance.now();
    agent = await startBinaryAgent(bin, hub.url, {
      cwd: agentDir,
      stateFile: join(agentDir, 'state.yaml'),
      kubeconfig: sandbox.kubeconfig,
      // Both workers run: ingress sync on (the sandbox's Ingresses); the heartbeat, at its default, on the tunnel worker.
      env: { ENABLE_INGRESS_SYNC: 'true', PIPEOPS_HEARTBEAT_INTERVAL: '30s' },
    });
    await waitRegistered(hub.url, agent);
    const readyMs = Math.round(performance.now() - t0);
    await Bun.sleep(idleMs); // deliberate idle period being measured, not synchronisation
    const a = procStatus(agent.proc.pid);
    const h = procStatus(hub.proc.pid);
    return { rssMiB: a.rssKiB / 1024, threads: a.threads, hubRssMiB: h.rssKiB / 1024, readyMs, idleMs };
  } finally {
    await agent?.stop();
    await sandbox?.stop();
    await hub.stop();
  }
}
