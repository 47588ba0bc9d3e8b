// What the kube gateway's listener costs (issue 14): the same answer (1 KiB JSON, one event-loop turn after the
// request) from node:https (what the gateway was), from the gateway's front (src/hub/kube-gateway/http-front.ts:
// TLS on Bun.listen with its own head reader) and from Bun.serve, each in its own process, driven by this process
// with 64 concurrent HTTPS GETs in interleaved rounds. Figures: the server's CPU-µs per request (/proc, all threads),
// the load generator's, and requests/s; medians with ranges.
//
//   bun bench/gateway-front.ts [--rounds 4] [--secs 3] [--modes node,front,serve]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { lineOf, load } from './support/load.ts';
import { cpuTicks, TICK_US } from './support/proc-stats.ts';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i < 0 ? d : argv[i + 1]!;
};
const modes = opt('modes', 'node,front,serve').split(',');
const rounds = Number(opt('rounds', '4'));
const secs = Number(opt('secs', '3'));
const ca = readFileSync(join(import.meta.dir, '../test/fixtures/tls/ca.crt'), 'utf8');
const load0 = loadavg();
const servers: Record<string, { pid: number; port: number; p: ReturnType<typeof Bun.spawn> }> = {};
try {
  for (const m of modes) {
    const p = Bun.spawn([process.execPath, join(import.meta.dir, 'support/front-server.ts'), m], { stdout: 'pipe', stderr: 'inherit' });
    servers[m] = { pid: p.pid, port: JSON.parse(await lineOf(p, /front_server_ready/)).port, p };
  }
  const res: Record<string, { server: number[]; client: number[]; rps: number[] }> = {};
  for (let i = 0; i < rounds; i++)
    for (const m of i % 2 ? [...modes].reverse() : modes) {
      const s = servers[m]!;
      const get = () =>
        fetch(`https://localhost:${s.port}/clusters/bench/k8s/api/v1/namespaces/default/configmaps/one`, { headers: { authorization: 'Bearer bench-user-token' }, tls: { ca } } as RequestInit);
      await load(get, 64, { count: 2000 });
      const c0 = cpuTicks(s.pid);
      const u0 = process.cpuUsage();
      const run = await load(get, 64, { durationMs: secs * 1000, minBytes: 1024 });
      if (run.errors) throw new Error(`${m}: ${run.errors} requests failed`);
      const c1 = cpuTicks(s.pid);
      const u1 = process.cpuUsage(u0);
      const r = (res[m] ??= { server: [], client: [], rps: [] });
      r.server.push(((c1 - c0) * TICK_US) / run.n);
      r.client.push((u1.user + u1.system) / run.n);
      r.rps.push(run.rps);
    }
  const med = (a: number[]) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const cell = (a: number[], d = 1) => `${med(a).toFixed(d)} (${Math.min(...a).toFixed(d)}–${Math.max(...a).toFixed(d)})`;
  console.log(`| server | server CPU-µs per request | load generator CPU-µs per request | requests/s |\n|---|---|---|---|`);
  for (const m of modes) console.log(`| ${m} | ${cell(res[m]!.server)} | ${cell(res[m]!.client)} | ${cell(res[m]!.rps, 0)} |`);
  console.log(`${rounds} rounds of ${secs} s, c=64; load average ${load0.map((x) => x.toFixed(2)).join(' / ')} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' / ')} at the end`);
} finally {
  for (const s of Object.values(servers)) s.p.kill();
}
