// Smoke test of the compiled binary (dist/pipeops-agent, built by `npm run build`; .ci/run builds it first).
// Everything runs from empty temporary directories: inside the repo, worker paths could silently resolve to the
// source files on disk (bun-notes §3) and hide a broken binary.
import { afterEach, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentProc, emptyDir, type HubProc, listClusters, type SandboxProc, startBinaryAgent, startBinaryHub, startBinarySandbox, waitRegistered } from '../../scripts/binary-run.ts';
import { chartJscEnv } from '../../bench/support/agent-env.ts';
import { noProgramsEnv } from '../support/without-path.ts';

const BIN = join(import.meta.dir, '..', '..', 'dist', 'pipeops-agent');
const present = existsSync(BIN);
if (!present) console.log(`binary.test.ts: SKIPPED: ${BIN} is absent (run \`npm run build\`; .ci/run builds it)`);

const procs: (HubProc | AgentProc)[] = [];
afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.stop();
});

async function run(args: string[], cwd: string) {
  const p = Bun.spawn([BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, stdout: 'pipe', stderr: 'pipe' });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

describe.skipIf(!present)('compiled binary, from an empty directory', () => {
  test("the chart's JavaScriptCore options reach the runtime (BUN_JSC_*: the FTL tier off), and without them it is on", async () => {
    const dir = emptyDir();
    const jsc = chartJscEnv(join(import.meta.dir, '..', '..'));
    expect(jsc).toEqual({ BUN_JSC_useFTLJIT: '0' });
    const dump = async (extra: Record<string, string>) => {
      // dumpOptions=2: every option, with its default where it differs
      const p = Bun.spawn([BIN, '--version'], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, BUN_JSC_dumpOptions: '2', ...extra }, stdout: 'pipe', stderr: 'pipe' });
      const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      expect(code).toBe(0);
      return (out + err).split('\n').find((l) => /\buseFTLJIT=/.test(l))?.trim();
    };
    expect(await dump(jsc)).toBe('useFTLJIT=false (default: true)');
    expect(await dump({})).toBe('useFTLJIT=true');
  });

  test('--version, --help, hub --help', async () => {
    const dir = emptyDir();
    const v = await run(['--version'], dir);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^pipeops-agent \d+\.\d+\.\d+ \(commit [^)]+, bun 1\.4\.5\)\n$/);
    expect(v.out).not.toContain('commit source'); // the build defines PIPEOPS_BUILD_COMMIT
    const h = await run(['--help'], dir);
    expect(h.code).toBe(0);
    expect(h.out).toContain('pipeops-agent hub [flags]');
    const hh = await run(['hub', '--help'], dir);
    expect(hh.code).toBe(0);
    expect(hh.out).toContain('Usage: pipeops-agent hub');
  });

  test('hub + agent from the binary: registration, heartbeat, all workers up, SIGTERM → exit 0', async () => {
    const hub = await startBinaryHub(BIN, emptyDir());
    procs.push(hub);
    const dir = emptyDir();
    const sandbox = await startBinarySandbox(BIN, emptyDir());
    procs.push(sandbox);
    const agent = await startBinaryAgent(BIN, hub.url, { cwd: dir, stateFile: join(dir, 'state.yaml'), kubeconfig: sandbox.kubeconfig, env: { ENABLE_INGRESS_SYNC: 'true' } });
    procs.push(agent);
    const c = await waitRegistered(hub.url, agent);
    expect(c.connected).toBe(true);
    expect(c.last_heartbeat).toBeTruthy();
    // The workers really run inside the binary (a missing worker entrypoint shows up as ModuleNotFound + restarts).
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    for (const w of ['tunnel', 'ingress']) expect(metrics).toContain(`pipeops_worker_up{worker="${w}"} 1`);
    // The heartbeat runs on the tunnel worker's thread: no worker of its own.
    expect(metrics).not.toContain('worker="heartbeat"');
    expect(agent.lines.join('\n')).not.toContain('ModuleNotFound');
    expect(readFileSync(join(dir, 'state.yaml'), 'utf8')).toContain('cluster_id');
    expect(await agent.stop()).toBe(0);
    expect(agent.lines.join('\n')).toContain('agent stopped');
    expect(await hub.stop()).toBe(0);
    expect(await listClusters(hub.url).then(() => 'up', () => 'down')).toBe('down');
  }, 60_000);

  test('hub with no programs on PATH (as in the distroless image): gateway TLS minted in-process, /healthz answers', async () => {
    const dir = emptyDir();
    const hub = await startBinaryHub(BIN, dir, { env: { ...noProgramsEnv(), HOME: dir }, state: join(dir, 'hub.db') });
    procs.push(hub);
    const r = await fetch(`${hub.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok');
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) expect(existsSync(join(dir, 'hub.db.tls', f))).toBe(true);
    expect(await hub.stop()).toBe(0);
  }, 60_000);

  const root = process.getuid?.() === 0;
  test.skipIf(!root)('as uid 65532 with a read-only working directory, state in a writable temp dir', async () => {
    const setpriv = Bun.which('setpriv');
    if (!setpriv) {
      console.log('skipped: setpriv not found');
      return;
    }
    const hub = await startBinaryHub(BIN, emptyDir());
    procs.push(hub);
    // cwd: owned by root, mode 0555: the agent cannot write there even if it tried.
    const ro = mkdtempSync(join(tmpdir(), 'pipeops-ro-'));
    chmodSync(ro, 0o555);
    // state: a directory only 65532 can write (the binary itself must be readable+executable by 65532).
    const stateDir = mkdtempSync(join(tmpdir(), 'pipeops-state-'));
    mkdirSync(join(stateDir, 'state'));
    Bun.spawnSync(['chown', '-R', '65532:65532', stateDir]);
    chmodSync(stateDir, 0o700);
    const stateFile = join(stateDir, 'state', 'agent-state.yaml');
    const wrapper = [setpriv, '--reuid=65532', '--regid=65532', '--clear-groups', '--'];
    // The cluster, run as the same user so that its 0600 kubeconfig is readable by the agent.
    const sandbox: SandboxProc = await startBinarySandbox(BIN, ro, { kubeconfig: join(stateDir, 'state', 'sandbox.kubeconfig'), wrapper });
    procs.push(sandbox);
    const agent = await startBinaryAgent(BIN, hub.url, {
      cwd: ro,
      stateFile,
      clusterName: 'nonroot-cluster',
      kubeconfig: sandbox.kubeconfig,
      wrapper,
    });
    procs.push(agent);
    await waitRegistered(hub.url, agent, 'nonroot-cluster');
    expect(readFileSync(`/proc/${agent.proc.pid}/status`, 'utf8')).toMatch(/^Uid:\s+65532\s+65532/m);
    expect(readFileSync(stateFile, 'utf8')).toContain('cluster_id');
    expect(await agent.stop()).toBe(0);
  }, 60_000);
});
