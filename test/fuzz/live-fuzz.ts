// Live fuzz (issue 19): the real agent process (`bun src/cli.ts agent`) against a fake control plane that sends
// it mutated text and binary messages, the crash inputs of issue 19 among them, with the sandbox as its
// Kubernetes API. Watches: worker restarts, session drops (new control-plane connections), /health, RSS.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdFrame } from '../../src/protocol/binary-frame.ts';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.ts';
import { encodeFrameData } from '../../src/protocol/stream-messages.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { tempDir } from '../support/hub-agent.ts';
import { CP_TOKEN, SA_TOKEN, TLS } from '../support/stack.ts';

const ROOT = join(import.meta.dir, '../..');

export interface LiveFuzzResult {
  sent: number;
  sessions: number;
  sessionCloses: number;
  workerRestarts: number;
  healthSamples: number;
  healthFailures: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  forwardsActiveAfter: number;
  streamsActiveAfter: number;
  /** Messages since the last good checkpoint when something went wrong (for a regression test). */
  failureWindow: string[] | null;
}

/** mulberry32: a small seeded PRNG, so a run is reproducible from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };
const POD = '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde';
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

/** The exact inputs of issue 19 (raw text: `1e309` and deep bodies cannot go through JSON.stringify). */
export function crashInputs(id: (n: number) => string): (string | Uint8Array)[] {
  const env = (type: string, payload: unknown, rid: string) => JSON.stringify({ type, request_id: rid, payload });
  const deepArr = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
  let deepObj = '1';
  for (let i = 0; i < 20_000; i++) deepObj = `{"a":${deepObj}}`;
  const exec = (rid: string) => env('proxy_websocket_start', { stream_id: rid, path: `${POD}/exec`, query: 'command=cat&stdin=true&stdout=true', headers: auth, protocol: 'v4.channel.k8s.io' }, rid);
  return [
    env('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: auth, use_streaming: true }, id(0)),
    env('proxy_request_chunk', { data: 5 }, id(0)),
    env('proxy_request_stream_end', {}, id(0)),
    env('proxy_request_chunk', { data: 'e30=' }, id(0)),
    `{"type":"proxy_request","request_id":"${id(1)}","payload":{"method":"POST","path":"/api/v1/namespaces/demo/configmaps","body":${deepArr}}}`,
    `{"type":"proxy_request","request_id":"${id(2)}","payload":{"method":"POST","path":"/api/v1/namespaces/demo/configmaps","body":${deepObj}}}`,
    exec(id(3)),
    env('proxy_websocket_data', { stream_id: id(3), data: b64(Uint8Array.from([0x08, 0x07, 0x76])) }, id(3)),
    exec(id(4)),
    env('proxy_websocket_data', { stream_id: id(4), data: b64(Uint8Array.from([0x08, 0x03, 0xec])) }, id(4)),
    exec(id(5)),
    env('proxy_websocket_data', { stream_id: id(5), data: encodeFrameData(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(200, 'r')])) }, id(5)),
    env('proxy_request', { method: 'GET', path: '/version', headers: auth, timeout: '600h' }, id(6)),
    env('proxy_request', { method: 'GET', path: '/version', headers: auth, timeout: 2_160_000_000 }, id(7)),
    `{"type":"proxy_request","request_id":"${id(8)}","payload":{"method":"GET","path":"/version","timeout":1e309}}`,
    env('proxy_request', { method: 'GET', path: '/version', headers: auth, deadline: '9999-12-31T00:00:00Z' }, id(9)),
    env('proxy_request', { method: 'GET', path: '/version', headers: { 'a b': ['1'], é: ['2'], 'x:y': ['3'], '': ['4'] } }, id(10)),
  ];
}

/** Valid messages the mutations start from (no watch or follow: those legitimately stay open). */
function seeds(id: string): Record<string, unknown>[] {
  const m = (type: string, payload: Record<string, unknown>) => ({ type, request_id: id, payload });
  return [
    m('proxy_request', { method: 'GET', path: '/api/v1/namespaces/demo/pods', headers: auth }),
    m('proxy_request', { method: 'GET', path: '/api/v1/namespaces', headers: auth, supports_response_streaming: true, binary_chunks: true }),
    m('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'fz-' } } }),
    m('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: auth, use_streaming: true }),
    m('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: auth, body_binary: true }),
    m('proxy_request', { method: 'GET', path: '/', headers: { Host: ['x'] }, service_name: 'hello', namespace: 'demo', service_port: 80 }),
    m('proxy_request', { method: 'GET', path: `${POD}/exec`, query: 'command=echo&command=hi&stdout=true', headers: { ...auth, Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'], 'Sec-WebSocket-Protocol': ['v4.channel.k8s.io'] } }),
    m('proxy_request_chunk', { data: b64('{"apiVersion":"v1"') }),
    m('proxy_request_stream_end', {}),
    m('proxy_cancel', {}),
    m('proxy_window', { increment: 65536 }),
    m('proxy_websocket_start', { stream_id: id, path: `${POD}/exec`, query: 'command=cat&stdin=true&stdout=true', headers: auth }),
    m('ws_start', { stream_id: id, path: `${POD}/exec`, query: 'command=echo&command=x&stdout=true', headers: auth, raw_frames: true }),
    m('proxy_websocket_data', { stream_id: id, data: encodeFrameData(1, Buffer.from('hello\n')) }),
    m('ws_data', { stream_id: id, data: encodeFrameData(2, Uint8Array.from([0, 104, 105])) }),
    m('proxy_websocket_data', { stream_id: id, data: encodeFrameData(8, Uint8Array.from([0x0f, 0xa0, 0x62, 0x79, 0x65])) }),
    m('proxy_websocket_close', { stream_id: id }),
    m('ws_close', { stream_id: id, code: 1000 }),
    m('proxy_stream_data', { data: 'AA==' }),
    m('tcp_tunnel_start', { tunnel_id: id, gateway_port: 1 }),
    m('udp_tunnel_data', { tunnel_id: id, data: 'AA==' }),
    m('made_up_type', { x: 1 }),
    m('ping', {}),
  ];
}

const HOSTILE: unknown[] = [5, -1, 0, 1e308, 2_160_000_000, '600h', '1e309', '9999-12-31T00:00:00Z', 'a b', 'é', '', 'e30=', '!!!', '\r\n', null, true, [], [[[]]], {}, { 'a b': 'x' }, { __proto__x: 1 }, 'x'.repeat(70_000), '/api/../etc/passwd', '%2e%2e'];
/** Types that steer the session itself (re-registration, hand-off): a real control plane sends them by design. */
const SESSION_TYPES = new Set(['error', 'register_success', 'register_in_progress', 'gateway_hello']);

export function* mutatedMessages(seed: number, count: number): Generator<string | Uint8Array> {
  const r = prng(seed);
  const id = (n: number) => `fz-${n}`;
  yield* crashInputs(id);
  for (let i = 0; i < count; i++) {
    const rid = id(r.int(40));
    const base = r.pick(seeds(rid));
    const roll = r.next();
    if (roll < 0.1) {
      const frame = encodeIdFrame(rid, Buffer.from(b64(String(i))));
      yield r.next() < 0.5 ? frame : mutateBytes(r, frame);
      continue;
    }
    const msg = structuredClone(base) as { type: string; request_id: unknown; payload: Record<string, unknown> };
    if (roll < 0.35) {
      // valid as is
    } else if (roll < 0.8) {
      const keys = Object.keys(msg.payload);
      const what = r.int(6);
      if (what === 0) msg.request_id = r.pick(HOSTILE);
      else if (what === 1 && keys.length) delete msg.payload[r.pick(keys)];
      else if (what === 2) msg.payload[r.pick(['timeout', 'deadline', 'headers', 'body', 'data', 'stream_id', 'use_streaming', 'message_type', 'code', 'increment'])] = r.pick(HOSTILE);
      else if (keys.length) msg.payload[r.pick(keys)] = r.pick(HOSTILE);
      else msg.payload = r.pick(HOSTILE) as Record<string, unknown>;
    } else {
      const text = JSON.stringify(msg);
      yield safeType(new TextDecoder().decode(mutateBytes(r, new TextEncoder().encode(text))));
      continue;
    }
    yield safeType(JSON.stringify(msg));
  }
}

/** Text that decodes to a session-steering type is sent as `ping` instead (see SESSION_TYPES). */
function safeType(text: string): string {
  const d = decodeEnvelope(text);
  if (d.ok && SESSION_TYPES.has(d.message.type)) return encodeEnvelope('ping', null, 'fz-session-type');
  return text;
}

function mutateBytes(r: ReturnType<typeof prng>, b: Uint8Array): Uint8Array {
  let a = [...b];
  for (let e = 0, n = 1 + r.int(4); e < n; e++) {
    const i = r.int(Math.max(1, a.length));
    const k = r.int(4);
    if (k === 0 && a.length) a[i] = r.int(256);
    else if (k === 1) a.splice(i, 0, r.int(256));
    else if (k === 2) a.splice(i, 1);
    else a = a.slice(0, i);
  }
  return Uint8Array.from(a);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function listeningPort(pid: number): number {
  // The agent's own sockets: its listening TCP socket is in /proc/net/tcp with an inode among its fds.
  const inodes = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
    } catch {
      return undefined;
    }
  }));
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && inodes.has(f[9])) return Number.parseInt(f[1]!.split(':')[1]!, 16);
  }
  return 0;
}

export async function runLiveFuzz(o: { messages: number; seed: number; log?: (s: string) => void }): Promise<LiveFuzzResult> {
  const log = o.log ?? (() => {});
  const sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' }, [CP_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  const dir = tempDir('pipeops-fuzz-');
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  let sock: { send(d: string | Uint8Array): unknown } | null = null;
  let sessions = 0;
  let sessionCloses = 0;
  const pongs = new Set<string>();
  const cp = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response('not found', { status: 404 })),
    websocket: {
      maxPayloadLength: 64 << 20,
      open(ws) {
        sessions++;
        sock = ws;
      },
      close() {
        sessionCloses++;
      },
      message(ws, raw) {
        if (typeof raw !== 'string') return;
        const d = decodeEnvelope(raw);
        if (!d.ok) return;
        if (d.message.type === 'register') ws.send(encodeEnvelope('register_success', { cluster_id: 'fuzz-cluster' }, d.message.requestId));
        if (d.message.type === 'pong' && d.message.requestId) pongs.add(d.message.requestId);
      },
    },
  });
  const agent = Bun.spawn(
    [process.execPath, join(ROOT, 'src/cli.ts'), 'agent', '--set', 'timeouts.stream_idle=2s', '--set', 'timeouts.proxy_body_idle=1s', '--set', 'timeouts.proxy_request=5s'],
    {
      stdout: process.env.PIPEOPS_FUZZ_VERBOSE ? 'inherit' : 'ignore',
      stderr: process.env.PIPEOPS_FUZZ_VERBOSE ? 'inherit' : 'ignore',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        PIPEOPS_API_URL: `http://127.0.0.1:${cp.port}`,
        PIPEOPS_TOKEN: 'fuzz-agent-token',
        PIPEOPS_CLUSTER_NAME: 'fuzz',
        PIPEOPS_PORT: '0',
        PIPEOPS_STATE_FILE: join(dir, 'agent-state.yaml'),
        PIPEOPS_LOG_LEVEL: 'error',
        KUBERNETES_IN_CLUSTER: 'false',
        KUBERNETES_KUBECONFIG: kubeconfig,
      },
    },
  );
  const wait = async (cond: () => boolean | Promise<boolean>, what: string, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`live fuzz: timed out waiting for ${what}`);
      await Bun.sleep(20);
    }
  };
  let port = 0;
  const health = { samples: 0, failures: 0 };
  let sampling = true;
  try {
    await wait(() => sessions === 1 && sock !== null, 'agent session', 90_000);
    await wait(() => (port = listeningPort(agent.pid)) > 0, 'agent port');
    const base = `http://127.0.0.1:${port}`;
    const metric = async (re: RegExp) =>
      (await (await fetch(`${base}/metrics`)).text())
        .split('\n')
        .filter((l) => re.test(l))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const sampler = (async () => {
      while (sampling) {
        health.samples++;
        try {
          if ((await fetch(`${base}/health`)).status !== 200) health.failures++;
        } catch {
          health.failures++;
        }
        await Bun.sleep(250);
      }
    })();
    const rssStart = rssMiB(agent.pid);
    let rssPeak = rssStart;
    let sent = 0;
    let window: string[] = [];
    let failureWindow: string[] | null = null;
    const checkpoint = async (n: number) => {
      const pid = `fz-sync-${n}`;
      sock!.send(encodeEnvelope('ping', null, pid));
      await wait(() => pongs.has(pid), `pong ${pid}`, 30_000);
      rssPeak = Math.max(rssPeak, rssMiB(agent.pid));
    };
    for (const m of mutatedMessages(o.seed, o.messages)) {
      if (sessions !== 1 || sessionCloses !== 0) break;
      sock!.send(m);
      sent++;
      window.push(typeof m === 'string' ? m.slice(0, 2000) : `binary:${Buffer.from(m).toString('base64')}`);
      if (sent % 100 === 0) {
        try {
          await checkpoint(sent);
        } catch (e) {
          failureWindow = window;
          log(String(e));
          break;
        }
        if (sessions !== 1 || sessionCloses !== 0) {
          failureWindow = window;
          break;
        }
        window = [];
        if (sent % 1000 === 0) log(`live fuzz: ${sent} messages, agent RSS ${rssMiB(agent.pid).toFixed(0)} MiB`);
      }
    }
    if (!failureWindow && (sessions !== 1 || sessionCloses !== 0)) failureWindow = window;
    // Let abandoned work be reclaimed (stream_idle 2 s, proxy_body_idle 1 s, proxy_request 5 s), then read the gauges.
    let forwards = -1;
    let streams = -1;
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      forwards = await metric(/^pipeops_tunnel_forwards_active /);
      streams = await metric(/^pipeops_ws_sessions_active\{/);
      if (forwards === 0 && streams === 0) break;
      await Bun.sleep(250);
    }
    const workerRestarts = await metric(/^pipeops_worker_restarts_total\{/);
    sampling = false;
    await sampler;
    if (failureWindow) writeFileSync(join(dir, 'failure-window.json'), JSON.stringify(failureWindow));
    return { sent, sessions, sessionCloses, workerRestarts, healthSamples: health.samples, healthFailures: health.failures, rssStartMiB: rssStart, rssPeakMiB: rssPeak, forwardsActiveAfter: forwards, streamsActiveAfter: streams, failureWindow };
  } finally {
    sampling = false;
    agent.kill('SIGTERM');
    await agent.exited;
    cp.stop(true);
    await sandbox.close();
  }
}
