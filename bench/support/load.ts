// Load generation and process helpers shared by the benchmark scripts: wait for a child's JSON line, run N
// concurrent workers for a duration or a count, percentiles.

export async function lineOf(p: ReturnType<typeof Bun.spawn>, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    const line = buf.split('\n').find((l) => re.test(l));
    if (line) {
      reader.releaseLock();
      void (async () => {
        for await (const _ of p.stdout as ReadableStream<Uint8Array>);
      })();
      return line;
    }
  }
  throw new Error(`no line matching ${re}`);
}

export const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export interface Run {
  p50: number;
  p99: number;
  rps: number;
  n: number;
  errors: number;
}

/** `concurrency` workers issuing requests for `durationMs` (or `count` requests in total); a non-2xx answer or one shorter than `minBytes` is an error. */
export async function load(get: () => Promise<Response>, concurrency: number, o: { durationMs?: number; count?: number; minBytes?: number }): Promise<Run> {
  const lat: number[] = [];
  let errors = 0;
  let issued = 0;
  const t0 = performance.now();
  const end = o.durationMs ? t0 + o.durationMs : Number.POSITIVE_INFINITY;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end && (o.count === undefined || issued < o.count)) {
        issued++;
        const s = performance.now();
        try {
          const r = await get();
          const b = await r.arrayBuffer();
          if (!r.ok || b.byteLength < (o.minBytes ?? 0)) errors++;
        } catch {
          errors++;
        }
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), rps: lat.length / secs, n: lat.length, errors };
}

export const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** Poll the hub's admin API until an agent is connected; its cluster id. */
export async function connectedClusterId(hubUrl: string, adminToken: string, attempts = 200): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const r = await fetch(`${hubUrl}/api/v1/clusters`, { headers: { authorization: `Bearer ${adminToken}` } });
    const c = ((await r.json()) as { clusters: { cluster_id: string; connected: boolean }[] }).clusters.find((x) => x.connected);
    if (c) return c.cluster_id;
    await Bun.sleep(50);
  }
  throw new Error('agent did not register');
}
