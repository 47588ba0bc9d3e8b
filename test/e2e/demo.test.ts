// The README's demo command: `npm run demo -- --dir D` comes up, kubectl works through it, SIGTERM stops it.
import { expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/hub-agent.ts';
import { lineWatcher, waitFor } from '../support/wait.ts';

const ROOT = join(import.meta.dir, '../..');

test('npm run demo: kubeconfig and endpoints.json written; kubectl get pods -A works; SIGTERM stops it', async () => {
  const dir = tempDir('pipeops-demo-');
  const p = Bun.spawn(['npm', 'run', '--silent', 'demo', '--', '--dir', dir], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } });
  try {
    const out = lineWatcher(p.stdout);
    const ready = JSON.parse(await out.next(/"event":"demo_ready"/, 45_000));
    const endpoints = JSON.parse(readFileSync(join(dir, 'endpoints.json'), 'utf8'));
    for (const k of ['hub_url', 'agent_url', 'cluster_id', 'kube_url', 'gateway_url']) expect(endpoints[k]).toBeTruthy();
    // The README's curl: the public gateway answers for hello.demo.local through the tunnel (the agent's
    // ingress sync registered the route), and for shop.demo.local in direct mode.
    const hello = await fetch(`${endpoints.gateway_url}/`, { headers: { Host: 'hello.demo.local' } });
    expect(hello.status).toBe(200);
    expect(await hello.text()).toStartWith('Hello from hello.demo.local (through the tunnel)');
    const shop = await fetch(`${endpoints.gateway_url}/cart`, { headers: { Host: 'shop.demo.local' } });
    expect(await shop.text()).toStartWith('Hello from shop.demo.local (direct to the load balancer, no tunnel)');
    expect((await fetch(`${endpoints.gateway_url}/`, { headers: { Host: 'nobody.demo.local' } })).status).toBe(404);
    // Both routes came from agents' ingress sync: hello from the private cluster (tunnel), shop from the public
    // cluster's agent, whose detection chose direct mode with the LoadBalancer's address as public_endpoint.
    const { admin_token } = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8'));
    const reg = (await (await fetch(`${endpoints.hub_url}/api/v1/gateway/routes`, { headers: { authorization: `Bearer ${admin_token}` } })).json()) as {
      routes: { hostname: string; cluster_name: string; routing_mode: string; public_endpoint: string | null; ingress: string | null }[];
    };
    const byHost = Object.fromEntries(reg.routes.map((r) => [r.hostname, r]));
    expect(byHost['hello.demo.local']).toMatchObject({ cluster_name: 'demo', routing_mode: 'tunnel', public_endpoint: null, ingress: 'demo/hello' });
    expect(byHost['shop.demo.local']).toMatchObject({ cluster_name: 'demo-public', routing_mode: 'direct', ingress: 'demo/shop' });
    expect(byHost['shop.demo.local']?.public_endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(endpoints.cluster_id).toBe(ready.cluster_id);
    expect(existsSync(join(dir, 'kubeconfig'))).toBe(true);
    const kubectl = Bun.spawn(['kubectl', '--kubeconfig', join(dir, 'kubeconfig'), 'get', 'pods', '-A'], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, KUBECACHEDIR: join(dir, 'kcache'), HOME: dir } });
    const [stdout, stderr, code] = await Promise.all([new Response(kubectl.stdout).text(), new Response(kubectl.stderr).text(), kubectl.exited]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/NAMESPACE\s+NAME\s+READY\s+STATUS/);
    expect(stdout).toContain('hello-6d9f7c8b5-abcde');
    const readyRes = await fetch(`${endpoints.agent_url}/ready`);
    expect(readyRes.status).toBe(200);
    // Issue 13 item 8: the README's L4 clients against the hub addresses in endpoints.json.
    const l4 = Object.fromEntries((endpoints.l4 as { name: string; protocol: string; hub_address: string }[]).map((x) => [x.name, x]));
    expect(l4.redis?.protocol).toBe('tcp');
    expect(l4['udp-echo']?.protocol).toBe('udp');
    const [rh, rp] = [l4.redis!.hub_address.replace(/:\d+$/, ''), l4.redis!.hub_address.split(':').pop()!];
    if (Bun.which('redis-cli')) {
      const cli = async (...args: string[]) => (await new Response(Bun.spawn(['redis-cli', '-h', rh, '-p', rp, ...args], { stdout: 'pipe' }).stdout).text()).trim();
      expect(await cli('PING')).toBe('PONG');
      expect(await cli('SET', 'k', 'through the hub')).toBe('OK');
      expect(await cli('GET', 'k')).toBe('through the hub');
    } else console.warn('skipping the redis-cli check: redis-cli not installed');
    if (Bun.which('socat')) {
      const udp = Bun.spawn(['socat', '-t2', '-', `UDP4:${l4['udp-echo']!.hub_address}`], { stdin: new TextEncoder().encode('hello over udp\n'), stdout: 'pipe' });
      expect(await new Response(udp.stdout).text()).toBe('hello over udp\n');
    } else console.warn('skipping the socat UDP check: socat not installed');
  } finally {
    // Stop the demo process itself (npm's own signal handling is npm's business), then npm ends.
    const pids = Bun.spawnSync(['pgrep', '-f', `cli.ts demo --dir ${dir}`]).stdout.toString().trim().split('\n').filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGTERM');
    await waitFor(() => Bun.spawnSync(['pgrep', '-f', `cli.ts demo --dir ${dir}`]).stdout.toString().trim() === '', { what: 'demo process gone', timeoutMs: 10_000 });
    p.kill('SIGTERM');
  }
  await p.exited;
}, 90_000);

test('demo: SIGTERM makes the demo process itself exit 0', async () => {
  const dir = tempDir('pipeops-demo-');
  const p = Bun.spawn([process.execPath, join(ROOT, 'src/cli.ts'), 'demo', '--dir', dir], { stdout: 'pipe', stderr: 'pipe' });
  await lineWatcher(p.stdout).next(/"event":"demo_ready"/, 45_000);
  p.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}, 60_000);
