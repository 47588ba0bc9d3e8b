// The agent as a process: exit codes and messages an operator sees, and signal handling (also as PID 1).
import { afterEach, describe, expect, test } from 'bun:test';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_TOKEN, tempDir, testHub } from '../support/hub-agent.ts';
import { lineWatcher, waitFor } from '../support/wait.ts';

const BUN = process.execPath;
const CLI = join(import.meta.dir, '../../src/cli.ts');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function agentEnv(apiUrl: string, dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    PIPEOPS_API_URL: apiUrl,
    PIPEOPS_TOKEN: AGENT_TOKEN,
    PIPEOPS_CLUSTER_NAME: 'proc-cluster',
    PIPEOPS_PORT: '0',
    PIPEOPS_STATE_FILE: join(dir, 'state.yaml'),
    KUBERNETES_IN_CLUSTER: 'false',
    ...extra,
  };
}

describe('agent process', () => {
  test('wrong token: exits non-zero and the message names the cause', async () => {
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    const dir = tempDir();
    const p = Bun.spawn([BUN, CLI, 'agent'], { env: agentEnv(hub.url, dir, { PIPEOPS_TOKEN: 'definitely-wrong-token' }), stdout: 'pipe', stderr: 'pipe' });
    const code = await p.exited;
    const stderr = await new Response(p.stderr).text();
    expect(code).toBe(3);
    expect(stderr).toContain('rejected the agent token (HTTP 401)');
    expect(stderr).toContain('PIPEOPS_TOKEN');
    expect(stderr).not.toContain('definitely-wrong-token');
  });

  test('three invalid settings over file, env and flags: exit 2, all named with their sources', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'timeouts:\n  websocket_ping: soon\n');
    const env = agentEnv('http://127.0.0.1:1', dir, { PIPEOPS_PORT: 'not-a-port' });
    const p = Bun.spawn([BUN, CLI, 'agent', '--config', file, '--pipeops-url', 'ftp://nope'], { env, stdout: 'pipe', stderr: 'pipe' });
    const code = await p.exited;
    const stderr = await new Response(p.stderr).text();
    expect(code).toBe(2);
    expect(stderr).toMatch(/timeouts\.websocket_ping.*from file .*config\.yaml/);
    expect(stderr).toMatch(/agent\.port.*from env PIPEOPS_PORT/);
    expect(stderr).toMatch(/pipeops\.api_url.*from flag --pipeops-url/);
  });

  // Ten process starts: one after the other they took 30 s on a loaded machine (issue 10, item 16, where a 5 s
  // limit cut them); at once they share the CPU with the load instead of queueing behind it.
  test('--version and --help for every subcommand', async () => {
    const all = [['--version'], ['agent', '--version'], ['hub', '--version'], ['demo', '--version'], ['sandbox', '--version'], ['--help'], ['agent', '--help'], ['hub', '--help'], ['demo', '--help'], ['sandbox', '--help']];
    const runs = await Promise.all(
      all.map(async (args) => {
        const p = Bun.spawn([BUN, CLI, ...args], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '' } });
        const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
        return { args, out, code };
      }),
    );
    for (const { args, out, code } of runs) {
      expect(`${args.join(' ')}: exit ${code}`).toBe(`${args.join(' ')}: exit 0`);
      expect(out.length).toBeGreaterThan(5);
      if (args.includes('--version')) expect(out).toMatch(/\d+\.\d+\.\d+/);
      else expect(out).toContain('Usage');
    }
  });

  test('README "Running": `sandbox` writes a kubeconfig, an agent given it with --kubeconfig becomes ready, kubectl works', async () => {
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    const dir = tempDir();
    const kubeconfig = join(dir, 'sandbox.kubeconfig');
    const sb = Bun.spawn([BUN, CLI, 'sandbox', '--kubeconfig', kubeconfig], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '' } });
    cleanups.push(() => sb.kill('SIGKILL'));
    const sbOut = lineWatcher(sb.stdout);
    const ready = JSON.parse(await sbOut.next(/"event":"sandbox_ready"/, 30_000)) as { url: string; kubeconfig: string };
    expect(ready.kubeconfig).toBe(kubeconfig);
    expect(ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(kubeconfig).mode & 0o077).toBe(0);
    const kubectl = Bun.spawn(['kubectl', '--kubeconfig', kubeconfig, 'get', 'namespaces', '-o', 'name'], { stdout: 'pipe', stderr: 'pipe' });
    const [kOut, kErr] = await Promise.all([new Response(kubectl.stdout).text(), new Response(kubectl.stderr).text()]);
    expect(kErr).toBe('');
    expect(await kubectl.exited).toBe(0);
    expect(kOut).toContain('namespace/default');

    const cfg = join(dir, 'agent.yaml');
    writeFileSync(cfg, 'agent:\n  host: 127.0.0.1\n');
    const agent = Bun.spawn([BUN, CLI, 'agent', '--config', cfg, '--kubeconfig', kubeconfig], { env: agentEnv(hub.url, dir), stdout: 'pipe', stderr: 'pipe' });
    cleanups.push(() => agent.kill('SIGKILL'));
    const out = lineWatcher(agent.stdout);
    const listening = JSON.parse(await out.next(/"msg":"local API listening"/, 30_000)) as { url: string };
    await waitFor(async () => (await fetch(`${listening.url}/ready`)).status === 200, { what: 'agent ready with the sandbox cluster', timeoutMs: 30_000 });
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    sb.kill('SIGTERM');
    expect(await sb.exited).toBe(0);
  });

  async function runAndTerminate(cmd: string[], env: Record<string, string>) {
    const p = Bun.spawn(cmd, { env, stdout: 'pipe', stderr: 'pipe' });
    cleanups.push(() => p.kill('SIGKILL'));
    const out = lineWatcher(p.stdout);
    await out.next(/"msg":"control-plane session established|registered with control plane"/, 15_000);
    await out.next(/"msg":"registered with control plane"/, 15_000);
    const t0 = Date.now();
    p.kill('SIGTERM');
    const code = await p.exited;
    return { code, ms: Date.now() - t0, out };
  }

  test('SIGTERM: clean exit 0 within 10 s, the hub sees the session close', async () => {
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    const closes: number[] = [];
    hub.agents.onSession((_id, connected) => !connected && closes.push(Date.now()));
    const r = await runAndTerminate([BUN, CLI, 'agent'], agentEnv(hub.url, tempDir()));
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.out.text).toContain('agent stopped');
    expect(closes.length).toBe(1);
  });

  test('SIGTERM as PID 1 (own PID namespace): exit 0 within 10 s', async () => {
    const probe = Bun.spawnSync(['unshare', '-p', '-f', '--mount-proc', 'true']);
    if (probe.exitCode !== 0) {
      console.log('skipped: unshare -p is not permitted here');
      return;
    }
    const hub = await testHub();
    cleanups.push(() => hub.stop());
    // `unshare -f` forks the agent as PID 1 of the new namespace; SIGTERM goes to unshare, which does not forward
    // it, so signal the child directly through its host PID.
    const p = Bun.spawn(['unshare', '-p', '-f', '--mount-proc', BUN, CLI, 'agent'], { env: agentEnv(hub.url, tempDir()), stdout: 'pipe', stderr: 'pipe' });
    cleanups.push(() => p.kill('SIGKILL'));
    const out = lineWatcher(p.stdout);
    const line = await out.next(/"msg":"registered with control plane"/, 15_000);
    const pid = Number(JSON.parse(out.lines.find((l) => l.includes('"pid"')) ?? line).pid ?? 0);
    expect(pid).toBe(1);
    const children = Bun.spawnSync(['pgrep', '-P', String(p.pid)]).stdout.toString().trim().split('\n').filter(Boolean);
    expect(children.length).toBe(1);
    const t0 = Date.now();
    process.kill(Number(children[0]), 'SIGTERM');
    const code = await p.exited;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(code).toBe(0);
  });
});
