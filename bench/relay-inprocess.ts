// The agent's HTTP relay driven in-process (issue 14): `proxy_request` envelopes as our hub builds them go into the
// envelope transport, dispatcher and HTTP relay of the tree given (default this one), the answers into a fake
// connection; 64 concurrent requests in a closed loop against bench/support/backend.ts (its own process) or, with
// --stub, against a stub `fetch` that answers a fixed 1 KiB response without I/O (the relay's own JS alone).
// --floor replaces the relay by the least a relay does (JSON.parse, fetch, one binary frame), the floor to compare
// with. Prints this process's CPU-µs per request (all threads: the JS thread and fetch's HTTP client thread) per
// round. Run it under `bun --cpu-prof` to see where the relay's time goes; compare two trees by alternating runs.
//
//   bun bench/relay-inprocess.ts [--tree DIR] [--stub] [--floor] [--requests 20000] [--rounds 3]
import { join } from 'node:path';
import { BENCH_RELAY, benchLog, benchMetric } from './support/bench-relay.ts';
import { floorFrame } from './support/floor-frame.ts';
import { lineOf } from './support/load.ts';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i < 0 ? d : argv[i + 1]!;
};
const TREE = opt('tree', join(import.meta.dir, '..'));
const N = Number(opt('requests', '20000'));
const ROUNDS = Number(opt('rounds', '3'));
const STUB = argv.includes('--stub');
const FLOOR = argv.includes('--floor');
const C = 64;

const { TunnelDispatcher } = await import(join(TREE, 'src/tunnel/dispatch.ts'));
const { EnvelopeTransport, envelopeConnection } = await import(join(TREE, 'src/tunnel/envelope-transport.ts'));
const { KubeClient } = await import(join(TREE, 'src/kube/client.ts'));
const { MetricBatch } = await import(join(TREE, 'src/threads/metric-batch.ts'));
const { buildProxyRequest } = await import(join(TREE, 'src/protocol/proxy-request-builders.ts'));
const { encodeMessage } = await import(join(TREE, 'src/protocol/wire-messages.ts'));

const backend = Bun.spawn([process.execPath, join(TREE, 'bench/support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
try {
  const url = JSON.parse(await lineOf(backend, /backend_ready/)).url as string;
  const log = benchLog;
  // The worker posts its metric batches to the main thread: a MessagePort here.
  const metric = benchMetric(MetricBatch);
  const kube = new KubeClient({ server: url, insecureSkipVerify: true, token: () => 'bench-sa', source: 'explicit' }, { userAgent: 'pipeops-agent/bench', relayPool: {} });
  const smallBody = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message: 'x'.repeat(900) });
  const stubFetch = () => Promise.resolve(new Response(smallBody, { headers: { 'Content-Type': 'application/json', 'Content-Length': String(smallBody.length), Date: new Date().toUTCString() } }));
  // A tree with its own HTTP/1.1 client (src/kube/http1.ts) gets the stub answer as that client gives it.
  const http1 = await import(join(TREE, 'src/kube/http1.ts')).catch(() => null);
  const smallBytes = new TextEncoder().encode(smallBody);
  const stubForward = http1
    ? () => Promise.resolve(new http1.Http1Response(200, 'OK', ['Content-Type', 'application/json', 'Date', new Date().toUTCString(), 'Content-Length', String(smallBytes.length)], smallBytes.length, smallBytes, null))
    : stubFetch;
  if (STUB) (kube as { forward: unknown }).forward = stubForward;
  const dispatcher = new TunnelDispatcher({
    kube,
    log,
    metric,
    ...BENCH_RELAY,
  });
  const waiting = new Map<string, () => void>();
  const td = new TextDecoder();
  const answered = (id: string) => {
    const w = waiting.get(id);
    if (w) {
      waiting.delete(id);
      w();
    }
  };
  const writer = {
    open: true,
    bufferedAmount: 0,
    sendText(t: string) {
      const m = JSON.parse(t) as { type: string; request_id: string };
      if (m.type !== 'proxy_response_header' && m.type !== 'proxy_response_chunk') answered(m.request_id);
      return true;
    },
    sendBinary(d: Uint8Array | ArrayBuffer) {
      const u = d instanceof Uint8Array ? d : new Uint8Array(d);
      answered(td.decode(u.subarray(2, 2 + ((u[0]! << 8) | u[1]!))));
      return true;
    },
  };
  const conn = envelopeConnection(writer, metric, log);
  const transport = new EnvelopeTransport({
    conn,
    metric,
    log,
    binary: (d: ArrayBuffer, c: unknown) => dispatcher.handleBinary(d, c),
    beforeText: () => dispatcher.beforeText(),
    dispatch: (m: { type: string }) => {
      if (!dispatcher.handle(m, conn)) console.error('unhandled', m.type);
    },
  });
  // One envelope as the hub sends it (kubectl's headers after the hub's filter), the request id spliced in per request.
  const rawHeaders = ['Host', 'hub', 'Authorization', 'Bearer x', 'Accept', 'application/json, */*', 'User-Agent', 'kubectl/v1.33.0 (linux/amd64) kubernetes/abc', 'Connection', 'keep-alive', 'Accept-Encoding', 'gzip'];
  const template = encodeMessage({ type: 'proxy_request', payload: buildProxyRequest({ requestId: 'REQUEST-ID', method: 'GET', path: '/bench/small', query: '', rawHeaders, serviceToken: 'bench-sa-token', body: new Uint8Array(0), streaming: false, binaryChunks: true }).payload, requestId: 'REQUEST-ID' });
  const [head, tail] = template.split('REQUEST-ID') as [string, string];
  /** The floor: parse, fetch, one id-prefixed frame with the body. */
  const floor = (text: string) => {
    const m = JSON.parse(text) as { request_id: string; payload: { path: string } };
    void (STUB ? stubFetch() : fetch(url + m.payload.path)).then(async (r) => {
      writer.sendBinary(floorFrame(m.request_id, new Uint8Array(await r.arrayBuffer())));
    });
  };
  let seq = 0;
  const one = () => {
    const requestId = `req-${++seq}-0123456789abcdef`;
    const text = head + requestId + tail;
    return new Promise<void>((resolve) => {
      waiting.set(requestId, resolve);
      if (FLOOR) floor(text);
      else transport.onText(text);
    });
  };
  const run = async (n: number) => {
    let left = n;
    await Promise.all(Array.from({ length: C }, async () => { while (left-- > 0) await one(); }));
  };
  await run(3000);
  const us: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(N);
    const c = process.cpuUsage(c0);
    us.push((c.user + c.system) / N);
    console.log(`round ${r + 1}: ${us.at(-1)!.toFixed(2)} µs of CPU per request, ${Math.round((N / (performance.now() - t0)) * 1000)} requests/s`);
  }
  const sorted = [...us].sort((a, b) => a - b);
  console.log(`${FLOOR ? 'floor' : 'relay'}${STUB ? ' (stub fetch)' : ''} ${TREE}: median ${sorted[sorted.length >> 1]!.toFixed(2)} µs per request`);
} finally {
  backend.kill();
}
process.exit(0);
