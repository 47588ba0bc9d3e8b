// The hub side of bench/session-inprocess.ts: one WebSocket server (plain ws on loopback) that, once an agent
// connects, sends `proxy_request` envelopes (the text given on stdin's first line, `REQUEST-ID` spliced per request)
// at c=64 in a closed loop and counts the answers; between rounds it reads the agent process's CPU from /proc.
//   bun bench/support/session-hub.ts AGENT_PID REQUESTS ROUNDS TEMPLATE_FILE [main|worker]
import { readFileSync } from 'node:fs';
import { threadSwitches, threadTicks, TICK_US } from './proc-stats.ts';

const [pidArg, nArg, roundsArg, templateFile, where = 'main'] = process.argv.slice(2) as [string, string, string, string, string?];
const AGENT = Number(pidArg);
const N = Number(nArg);
const ROUNDS = Number(roundsArg);
const C = 64;
const JS_THREAD = where === 'worker' ? 'Worker' : 'bun';
const [head, tail] = readFileSync(templateFile, 'utf8').split('REQUEST-ID') as [string, string];
const td = new TextDecoder();
const waiting = new Map<string, () => void>();
let ws: Bun.ServerWebSocket<unknown> | null = null;
let seq = 0;

const answered = (id: string) => {
  const w = waiting.get(id);
  if (w) {
    waiting.delete(id);
    w();
  }
};
const one = () => {
  const id = `req-${++seq}-0123456789abcdef`;
  return new Promise<void>((resolve) => {
    waiting.set(id, resolve);
    ws!.send(head + id + tail);
  });
};
const run = async (n: number) => {
  let left = n;
  await Promise.all(Array.from({ length: C }, async () => { while (left-- > 0) await one(); }));
};
const js = (t: Record<string, { user: number; sys: number }>) => {
  let all = 0;
  for (const v of Object.values(t)) all += v.user + v.sys;
  // The agent's JS thread: the process's main thread (named after the process, bun) or its one Web Worker.
  const main = t[JS_THREAD] ?? { user: 0, sys: 0 };
  return { all, user: main.user, sys: main.sys };
};

async function bench() {
  await run(3000);
  const rows: { all: number; user: number; sys: number; rps: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sa = threadSwitches(AGENT, JS_THREAD);
    const ta = threadTicks(AGENT);
    const a = js(ta);
    const t0 = performance.now();
    await run(N);
    const ms = performance.now() - t0;
    const tb = threadTicks(AGENT);
    const sb = threadSwitches(AGENT, JS_THREAD);
    const b = js(tb);
    // Per thread (name: user+sys µs per request), to see where a difference sits (GC helpers, fetch's client).
    const threads: Record<string, number> = {};
    for (const [k, v] of Object.entries(tb)) threads[k] = ((v.user + v.sys - (ta[k]?.user ?? 0) - (ta[k]?.sys ?? 0)) * TICK_US) / N;
    // The JS thread's context switches per request: waits (voluntary) and preemptions.
    const switches = { waits: (sb.voluntary - sa.voluntary) / N, preempted: (sb.involuntary - sa.involuntary) / N };
    const row = { all: ((b.all - a.all) * TICK_US) / N, user: ((b.user - a.user) * TICK_US) / N, sys: ((b.sys - a.sys) * TICK_US) / N, rps: Math.round((N / ms) * 1000) };
    rows.push(row);
    console.error(JSON.stringify({ round: r + 1, ...row, threads, switches }));
  }
  const med = (k: 'all' | 'user' | 'sys' | 'rps') => rows.map((x) => x[k]).sort((p, q) => p - q)[rows.length >> 1];
  console.error(JSON.stringify({ median: true, all: med('all'), user: med('user'), sys: med('sys'), rps: med('rps') }));
  ws?.close(1000, 'bench done');
  setTimeout(() => process.exit(0), 200);
}

const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(req, s) {
    return s.upgrade(req) ? undefined : new Response('ws only', { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    open(w) {
      ws = w;
      void bench();
    },
    message(_w, msg) {
      if (typeof msg === 'string') {
        const m = JSON.parse(msg) as { type: string; request_id?: string };
        if (m.request_id && m.type !== 'proxy_response_header' && m.type !== 'proxy_response_chunk') answered(m.request_id);
      } else answered(td.decode(msg.subarray(2, 2 + ((msg[0]! << 8) | msg[1]!))));
    },
  },
});
console.log(JSON.stringify({ hub_ready: true, url: `http://127.0.0.1:${server.port}` }));
