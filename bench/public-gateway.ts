// Public gateway benchmark (issue 6): a 1 KiB page from the same backend, reached directly and through the hub's
// public gateway in tunnel mode (client → gateway → agent session → agent → backend), in one run, at
// concurrency 1 and 32. Backend, hub and agent are separate processes; the agent reaches the ingress
// controller Service through `service_proxy: map` (the backend), so the numbers are the gateway and tunnel only.
//   bun bench/public-gateway.ts [--quick]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectedClusterId, fmt, lineOf, load, type Run } from './support/load.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-gw-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const HOST = 'app.bench.local';

async function main() {
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;

  const hub = Bun.spawn(
    [BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--gateway-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'],
    { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN } },
  );
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/)) as { url: string; gateway_url: string };

  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    [
      'agent: { cluster_name: bench, port: 0, host: 127.0.0.1 }',
      `pipeops: { api_url: "${ready.url}", token: "${AGENT_TOKEN}" }`,
      'logging: { level: warn }',
      `kubernetes: { in_cluster: false, kubeconfig: "", service_proxy: map, service_map: { "pipeops-system/traefik:80": "${backendUrl}" } }`,
    ].join('\n'),
  );
  const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent', '--config', config], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { PATH: process.env.PATH ?? '', HOME: dir, PIPEOPS_STATE_FILE: join(dir, 'agent-state.yaml') },
  });
  procs.push(agent);
  const clusterId = await connectedClusterId(ready.url, ADMIN_TOKEN);
  // The route as the agent's ingress sync would register it: the host → the ingress controller Service.
  const reg = await fetch(`${ready.url}/api/v1/gateway/routes/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hostname: HOST, cluster_uuid: clusterId, namespace: 'pipeops-system', service_name: 'traefik', service_port: 80, ingress_name: 'app', path: '/', path_type: 'Prefix', tls: false, routing_mode: 'tunnel' }),
  });
  if (reg.status !== 200) throw new Error(`route registration failed: ${reg.status} ${await reg.text()}`);

  const tunnel = () => fetch(`${ready.gateway_url}/bench/small`, { headers: { host: HOST } });
  const direct = () => fetch(`${backendUrl}/bench/small`, { headers: { host: HOST } });
  const probe = await tunnel();
  const body = await probe.text();
  if (probe.status !== 200 || body.length < 900) throw new Error(`tunnel probe failed: ${probe.status} ${body.slice(0, 200)}`);

  await load(tunnel, 8, { count: 500, minBytes: 900 });
  await load(direct, 8, { count: 500, minBytes: 900 });
  const dur = quick ? 2000 : 5000;
  const rows: string[] = [];
  const all: Run[] = [];
  for (const c of [1, 32]) {
    const d = await load(direct, c, { durationMs: dur, minBytes: 900 });
    const t = await load(tunnel, c, { durationMs: dur, minBytes: 900 });
    all.push(d, t);
    rows.push(`| c=${c}: requests/s | ${fmt(d.rps, 0)} | ${fmt(t.rps, 0)} | ${fmt(t.rps / d.rps)}× |`);
    rows.push(`| c=${c}: p50 ms | ${fmt(d.p50)} | ${fmt(t.p50)} | +${fmt(t.p50 - d.p50)} ms |`);
    rows.push(`| c=${c}: p99 ms | ${fmt(d.p99)} | ${fmt(t.p99)} | +${fmt(t.p99 - d.p99)} ms |`);
  }
  const errors = all.reduce((a, r) => a + r.errors, 0);
  console.log(
    [
      `Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, loopback, ${dur / 1000} s per row; 1 KiB JSON page (${body.length} bytes).`,
      'Direct: client → backend. Tunnel: client → hub public gateway (HTTP) → agent session → agent → backend. Separate processes.',
      '',
      '| measurement | direct | public gateway (tunnel) | ratio / overhead |',
      '|---|---|---|---|',
      ...rows,
      '',
      `Requests: ${all.reduce((a, r) => a + r.n, 0)}, with errors: ${errors}.`,
    ].join('\n'),
  );
}

try {
  await main();
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
}
