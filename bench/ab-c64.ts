// Small-request CPU of two source trees side by side (issue 14): each tree runs its own hub and agent (from source)
// against one shared backend; 64 concurrent 1 KiB GETs alternate between the two sides for --secs each, --rounds
// times (alternating which goes first), and each side's agent and hub CPU-µs per request come from /proc. Both sides
// share every load swing of the machine, so the paired per-round differences (b − a) are the figure to read.
// Trees are checkouts with node_modules (e.g. `git archive <commit> | tar -x -C DIR`, then a node_modules symlink).
//
//   bun bench/ab-c64.ts --a DIR --b DIR [--secs 2] [--rounds 10]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectedClusterId, lineOf } from './support/load.ts';
import { TICK_US, cpuTicks } from './support/proc-stats.ts';
const argv = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i < 0 ? d : argv[i + 1]!; };
const trees = { a: opt('a', ''), b: opt('b', '') };
if (!trees.a || !trees.b) throw new Error('usage: bun bench/ab-c64.ts --a DIR --b DIR [--secs 2] [--rounds 10]');
const BUN = process.execPath;
const secs = Number(opt('secs', '2')), rounds = Number(opt('rounds', '10'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const T = { agent: 'bench-agent-token-0123456789', admin: 'bench-admin-token-0123456789', user: 'bench-user-token-0123456789' };
try {
  const backend = Bun.spawn([BUN, join(import.meta.dir, 'support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;
  const sides: Record<string, { hub: number; agent: number; via: string; ca: string }> = {};
  for (const k of ['a', 'b'] as const) {
    const ROOT = trees[k];
    const dir = mkdtempSync(join(tmpdir(), `pipeops-ab-${k}-`));
    const hub = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], { cwd: ROOT, stdout: 'pipe', stderr: 'inherit', env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: T.agent, PIPEOPS_HUB_ADMIN_TOKENS: T.admin, PIPEOPS_HUB_USER_TOKENS: T.user } });
    procs.push(hub);
    const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${backendUrl}", insecure-skip-tls-verify: true}}]\nusers: [{name: b, user: {token: bench-sa}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\n`);
    const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], { cwd: ROOT, stdout: Bun.file(join(dir, 'agent.log')), stderr: 'inherit', env: { PATH: process.env.PATH ?? '', HOME: dir, PIPEOPS_API_URL: ready.url, PIPEOPS_TOKEN: T.agent, PIPEOPS_CLUSTER_NAME: `ab-${k}`, PIPEOPS_PORT: '0', PIPEOPS_STATE_FILE: join(dir, 'agent.yaml'), PIPEOPS_LOG_LEVEL: 'warn', KUBERNETES_IN_CLUSTER: 'false', KUBERNETES_KUBECONFIG: kubeconfig } });
    procs.push(agent);
    const id = await connectedClusterId(ready.url, T.admin);
    sides[k] = { hub: hub.pid, agent: agent.pid, via: `${ready.kube_url}/clusters/${id}/k8s`, ca: readFileSync(join(dir, 'hub.db.tls', 'ca.crt'), 'utf8') };
  }
  const hdr = { authorization: `Bearer ${T.user}` };
  async function closed(k: string, ms: number) {
    const s = sides[k]!;
    let n = 0, errors = 0;
    const end = performance.now() + ms;
    await Promise.all(Array.from({ length: 64 }, async () => { while (performance.now() < end) { try { const r = await fetch(`${s.via}/bench/small`, { headers: hdr, tls: { ca: s.ca } } as RequestInit); await r.arrayBuffer(); if (r.ok) n++; else errors++; } catch { errors++; } } }));
    return { n, errors };
  }
  for (const k of ['a', 'b']) await closed(k, 1500);
  const res: Record<string, { agent: number[]; hub: number[]; client: number[]; rps: number[]; err: number }> = { a: { agent: [], hub: [], client: [], rps: [], err: 0 }, b: { agent: [], hub: [], client: [], rps: [], err: 0 } };
  for (let r = 0; r < rounds; r++) for (const k of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    const s = sides[k]!;
    const a0 = cpuTicks(s.agent), h0 = cpuTicks(s.hub), c0 = process.cpuUsage();
    const o = await closed(k, secs * 1000);
    const c = process.cpuUsage(c0);
    res[k]!.agent.push(((cpuTicks(s.agent) - a0) * TICK_US) / o.n);
    res[k]!.hub.push(((cpuTicks(s.hub) - h0) * TICK_US) / o.n);
    res[k]!.client.push((c.user + c.system) / o.n);
    res[k]!.rps.push(o.n / secs);
    res[k]!.err += o.errors;
  }
  const med = (xs: number[]) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
  const f = (xs: number[]) => `${med(xs).toFixed(1)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
  for (const k of ['a', 'b']) console.log(`${k} ${trees[k as 'a']}: agent ${f(res[k]!.agent)} hub ${f(res[k]!.hub)} client ${f(res[k]!.client)} rps ${f(res[k]!.rps)} errors ${res[k]!.err}`);
  // paired differences b - a per round
  const d = (key: 'agent' | 'hub') => res.b![key].map((x, i) => x - res.a![key][i]!);
  // The rate is closed-loop (64 clients): a change that saves CPU but adds latency shows here.
  const rr = res.b!.rps.map((x, i) => x / res.a!.rps[i]!);
  const g = (xs: number[]) => `${med(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
  console.log(`paired b-a: agent ${f(d('agent'))} hub ${f(d('hub'))}; rps b/a ${g(rr)}; ${secs}s x ${rounds} rounds; load ${loadavg().map((x) => x.toFixed(1)).join('/')}`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
process.exit(0);
