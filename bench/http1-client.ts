// The agent's HTTP/1.1 client (src/kube/http1.ts) against Bun's fetch, as the HTTP relay calls the Kubernetes API
// (issue 14): 64 concurrent 1 KiB GETs with kubectl's headers against bench/support/backend.ts (its own process),
// for --secs each, the two alternating for --rounds rounds. Prints this process's CPU-µs per request (all threads:
// fetch does its I/O on an HTTP thread of its own) and the rate, per round, then the medians and ranges.
//
//   bun bench/http1-client.ts [--secs 2] [--rounds 3] [--tls]
import { Http1Pool } from '../src/kube/http1.ts';
import { lineOf } from './support/load.ts';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i < 0 ? d : argv[i + 1]!;
};
const SECS = Number(opt('secs', '2'));
const ROUNDS = Number(opt('rounds', '3'));
const TLS = argv.includes('--tls');
const C = 64;

const backend = Bun.spawn([process.execPath, `${import.meta.dir}/support/backend.ts`, ...(TLS ? ['--tls'] : [])], { stdout: 'pipe', stderr: 'inherit' });
try {
  const url = JSON.parse(await lineOf(backend, /backend_ready/)).url as string;
  const tls = { rejectUnauthorized: false };
  const headers = () => ({
    Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    'User-Agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9',
    Authorization: 'Bearer bench-user-token-0123456789',
    'Kubectl-Command': 'kubectl get',
    'Kubectl-Session': '6a0c2e1b-6e0e-4d2b-9d0b-0b8c1d1e2f3a',
  });
  const pool = new Http1Pool(url, tls);
  const sides: Record<string, (signal: AbortSignal) => Promise<number>> = {
    // What the relay did before: fetch with its options, the headers read, the body read whole.
    fetch: async (signal) => {
      const r = await fetch(`${url}/bench/small`, { headers: headers(), signal, tls, redirect: 'manual', decompress: false } as RequestInit);
      let n = 0;
      r.headers.forEach(() => n++);
      return (await r.bytes()).length + n;
    },
    http1: async (signal) => {
      const r = await pool.request('GET', '/bench/small', headers(), undefined, signal, true);
      return r.whole!.length + r.rawHeaders.length;
    },
  };
  const results: Record<string, { us: number[]; rps: number[] }> = { fetch: { us: [], rps: [] }, http1: { us: [], rps: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['http1', 'fetch'] : ['fetch', 'http1'];
    for (const side of order) {
      let done = 0;
      const end = performance.now() + SECS * 1000;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: C }, async () => {
          const ac = new AbortController();
          while (performance.now() < end) {
            await sides[side]!(ac.signal);
            done++;
          }
        }),
      );
      const c = process.cpuUsage(c0);
      const us = (c.user + c.system) / done;
      const rps = done / ((performance.now() - t0) / 1000);
      results[side]!.us.push(us);
      results[side]!.rps.push(rps);
      console.log(`round ${round + 1} ${side.padEnd(5)}: ${us.toFixed(2)} µs of CPU per request, ${Math.round(rps)} requests/s`);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const range = (a: number[], d: number) => `${Math.min(...a).toFixed(d)}–${Math.max(...a).toFixed(d)}`;
  for (const side of ['fetch', 'http1']) {
    const r = results[side]!;
    console.log(`${side.padEnd(5)} (${TLS ? 'https' : 'http'}): ${med(r.us).toFixed(2)} (${range(r.us, 2)}) µs per request, ${Math.round(med(r.rps))} (${range(r.rps, 0)}) requests/s`);
  }
  pool.close();
} finally {
  backend.kill();
}
