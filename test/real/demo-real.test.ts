// `npm run demo -- --real`: the demo on two real control planes. kubectl through the hub sees the real server's
// version and the hello Deployment's Pods run by the stand-in kubelet; the public gateway serves both routes the
// agents' ingress sync registered (tunnel and direct); SIGTERM stops the demo and every control-plane process.
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectlPath, runKubectl } from '../sandbox/streams/kubectl-run.ts';
import { tempDir } from '../support/hub-agent.ts';
import { lineWatcher, waitFor } from '../support/wait.ts';
import { realTierMissing } from './real-support.ts';

const ROOT = join(import.meta.dir, '../..');
const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);
const KUBECTL = kubectlPath('1.33') ?? 'kubectl';

/** Pids of the demo's control-plane processes (their command lines name the demo directory). */
function controlPlanePids(dir: string): number[] {
  return Bun.spawnSync(['pgrep', '-f', `${dir}/kube-demo`]).stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

test.skipIf(missing !== null)('npm run demo -- --real: real servers behind the hub; kubectl, logs, both gateway routes; SIGTERM stops everything', async () => {
  const dir = tempDir('pipeops-demo-real-');
  const p = Bun.spawn([process.execPath, join(ROOT, 'src/cli.ts'), 'demo', '--real', '--dir', dir], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  const err = lineWatcher(p.stderr);
  try {
    const ready = JSON.parse(await lineWatcher(p.stdout).next(/"event":"demo_ready"/, 150_000).catch((e: Error) => {
      throw new Error(`${e.message}\nstderr:\n${err.text}`);
    })) as { real: boolean; gateway_url: string; kubeconfig: string };
    expect(ready.real).toBe(true);
    expect(controlPlanePids(dir).length).toBe(6);
    const env = { KUBECONFIG: ready.kubeconfig, HOME: dir, KUBECACHEDIR: join(dir, 'kcache') };
    const v = await runKubectl(KUBECTL, ['version', '-o', 'json'], env);
    expect((JSON.parse(v.stdout.toString()) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion).toBe('v1.37.2');
    await waitFor(async () => {
      const r = await runKubectl(KUBECTL, ['get', 'pods', '-n', 'demo', '-l', 'app=hello', '--no-headers'], env);
      return r.stdout.toString().trim().split('\n').filter((l) => /\s1\/1\s+Running\s/.test(l)).length === 2;
    }, { what: 'two hello pods Running', timeoutMs: 60_000, intervalMs: 500 });
    const logs = await runKubectl(KUBECTL, ['logs', 'deploy/hello', '-n', 'demo'], env);
    expect(logs.stdout.toString()).toContain('stand-in container hello');
    const hello = await fetch(`${ready.gateway_url}/`, { headers: { Host: 'hello.demo.local' } });
    expect(await hello.text()).toStartWith('Hello from hello.demo.local (through the tunnel');
    const shop = await fetch(`${ready.gateway_url}/cart`, { headers: { Host: 'shop.demo.local' } });
    expect(await shop.text()).toStartWith('Hello from shop.demo.local (direct to the load balancer, no tunnel)');
    const endpoints = JSON.parse(readFileSync(join(dir, 'endpoints.json'), 'utf8')) as { sandbox_url: string };
    expect(endpoints.sandbox_url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    p.kill('SIGTERM');
    await p.exited;
  }
  expect(p.exitCode).toBe(0);
  expect(controlPlanePids(dir)).toEqual([]);
}, 240_000);
