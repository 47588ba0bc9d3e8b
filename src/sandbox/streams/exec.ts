// exec and attach: the kubelet's remote-command server over both wires kubectl has used. WebSocket
// (`v5.channel.k8s.io` … `base64.channel.k8s.io`, kubectl ≥ 1.30 and client-node) and SPDY/3.1 with one SPDY
// stream per channel (kubectl ≤ 1.29, and every version when WebSockets are refused).
import {
  CHANNEL,
  decodeChannelMessage,
  EXEC_PROTOCOLS,
  encodeChannelMessage,
  execProtocolByName,
  negotiateSubprotocol,
  parseResize,
} from './channel-protocol.ts';
import { parseExecOptions } from './exec-options.ts';
import { type ExecOptions, WireExecSession } from './exec-session.ts';
import { defaultAttachProgram, defaultExecProgram } from './programs.ts';
import type { SpdyStream } from '../../kube/spdy.ts';
import { spdyOverSocket } from '../../kube/spdy-transport.ts';
import { streamLog } from './stream-log.ts';
import type { ExecHandler, PodStreamUpgrade } from './types.ts';
import { rejectUpgrade, writeSwitchingProtocols } from '../../kube/upgrade-response.ts';
import { acceptWebSocket, handshakeProblem, isWebSocketUpgrade, offeredSubprotocols } from '../../kube/websocket-server.ts';

/** What the kubelet's SPDY path accepts (v5 is WebSocket-only; client-go offers v4 next). */
export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const SPDY_VERSIONS: Record<string, number> = {
  'v4.channel.k8s.io': 4,
  'v3.channel.k8s.io': 3,
  'v2.channel.k8s.io': 2,
  'channel.k8s.io': 1,
};
/** The kubelet gives a client this long to open the streams it announced (remotecommand DefaultStreamCreationTimeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Header values split into a list; node:http joins repeated headers with ", ". */
export function headerList(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function runHandler(handler: ExecHandler, session: WireExecSession): void {
  Promise.resolve()
    .then(() => handler(session))
    .catch((err: Error) => {
      streamLog.warn({ pod: session.pod, err: err.message }, 'exec handler failed');
      session.exit(126, `error executing command [${session.command.join(' ')}]: ${err.message}`);
    });
}

export function handleExecUpgrade(r: PodStreamUpgrade): void {
  const opts = parseExecOptions(r.kind === 'attach' ? 'attach' : 'exec', r.query, r.namespace, r.podName, r.pod);
  if ('error' in opts) {
    rejectUpgrade(r.socket, 400, opts.error);
    r.onClosed();
    return;
  }
  const handler =
    r.kind === 'attach' ? (r.hooks.attach ?? defaultAttachProgram) : (r.hooks.exec ?? defaultExecProgram);
  if (isWebSocketUpgrade(r.req)) {
    if (r.hooks.rejectWebSockets) {
      // Any non-101 answer is an upgrade failure to client-go, which then retries over SPDY.
      rejectUpgrade(r.socket, 400, 'unable to upgrade streaming request: unsupported upgrade: websocket');
      r.onClosed();
      return;
    }
    execOverWebSocket(r, opts, handler);
    return;
  }
  if ((r.req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1') {
    execOverSpdy(r, opts, handler);
    return;
  }
  rejectUpgrade(r.socket, 400, 'Upgrade request required');
  r.onClosed();
}

function execOverWebSocket(r: PodStreamUpgrade, opts: ExecOptions, handler: ExecHandler): void {
  const problem = handshakeProblem(r.req);
  const offered = offeredSubprotocols(r.req);
  const chosen = negotiateSubprotocol(
    offered,
    EXEC_PROTOCOLS.map((p) => p.name),
  );
  if (problem || chosen === null) {
    const supported = EXEC_PROTOCOLS.map((p) => p.name).join(' ');
    const message = problem ?? `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supported}]`;
    streamLog.info({ pod: r.podName, message }, 'exec websocket upgrade refused');
    rejectUpgrade(r.socket, 400, message);
    r.onClosed();
    return;
  }
  const proto = execProtocolByName(chosen);
  const ws = acceptWebSocket(r.req, r.socket, r.head, chosen);
  const send = (channel: number, payload: Buffer) => {
    const m = encodeChannelMessage(proto.base64, channel, payload);
    ws.send(m.data, m.binary);
  };
  const session = new WireExecSession(opts, {
    version: proto.version,
    stdout: (d) => send(CHANNEL.stdout, d),
    stderr: (d) => send(CHANNEL.stderr, d),
    finish: (status) => {
      if (status) send(CHANNEL.error, status);
      ws.close(1000);
    },
  });
  ws.onMessage((data, binary) => {
    let m: ReturnType<typeof decodeChannelMessage>;
    try {
      m = decodeChannelMessage(proto.base64, data, binary);
    } catch (err) {
      streamLog.warn({ err: (err as Error).message }, 'exec websocket: undecodable message');
      ws.close(1003, 'undecodable channel message');
      return;
    }
    if (!m) return;
    if (m.channel === CHANNEL.stdin) {
      if (opts.stdin) session.deliverStdin(m.payload);
    } else if (m.channel === CHANNEL.resize) {
      const size = parseResize(m.payload.toString('utf8'));
      if (size) session.deliverResize(size);
      else streamLog.warn({ payload: m.payload.toString('utf8').slice(0, 80) }, 'exec websocket: bad resize message');
    } else if (m.channel === CHANNEL.close && proto.version >= 5) {
      if (m.payload[0] === CHANNEL.stdin) session.deliverStdinEnd();
    } else {
      streamLog.debug({ channel: m.channel }, 'exec websocket: message on an unexpected channel dropped');
    }
  });
  ws.onClose(() => {
    session.closed();
    r.onClosed();
  });
  runHandler(handler, session);
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

function execOverSpdy(r: PodStreamUpgrade, opts: ExecOptions, handler: ExecHandler): void {
  const offered = headerList(r.req.headers['x-stream-protocol-version']);
  const chosen = negotiateSubprotocol(offered, SPDY_EXEC_PROTOCOLS);
  if (!chosen) {
    rejectUpgrade(
      r.socket,
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${SPDY_EXEC_PROTOCOLS.join(' ')}]`,
      'Forbidden',
    );
    r.onClosed();
    return;
  }
  const version = SPDY_VERSIONS[chosen] ?? 1;
  writeSwitchingProtocols(r.socket, {
    Connection: 'Upgrade',
    Upgrade: 'SPDY/3.1',
    'X-Stream-Protocol-Version': chosen,
  });
  // The streams the client will open; the kubelet waits for all before starting (v2+).
  const expected = new Set<StreamType>(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr && !opts.tty) expected.add('stderr');
  if (opts.tty && version >= 3) expected.add('resize');
  const streams = new Map<StreamType, SpdyStream>();
  let session: WireExecSession | null = null;

  const start = () => {
    clearTimeout(timer);
    const out = (type: StreamType, d: Buffer) => streams.get(type)?.write(d);
    const s = new WireExecSession(opts, {
      version,
      stdout: (d) => out('stdout', d),
      stderr: (d) => out('stderr', d),
      finish: (status) => {
        const err = streams.get('error');
        if (status) err?.write(status);
        for (const st of streams.values()) st.end();
        spdy.close();
      },
    });
    session = s;
    const stdin = streams.get('stdin');
    stdin?.onData((d) => s.deliverStdin(d));
    stdin?.onEnd(() => s.deliverStdinEnd());
    stdin?.onReset(() => s.deliverStdinEnd());
    const resize = streams.get('resize');
    let pending = '';
    resize?.onData((d) => {
      // A sequence of JSON objects (Go json.Encoder: one per line).
      pending += d.toString('utf8');
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) {
          const size = parseResize(line);
          if (size) s.deliverResize(size);
          else streamLog.warn({ line: line.slice(0, 80) }, 'exec spdy: bad resize message');
        }
        nl = pending.indexOf('\n');
      }
    });
    runHandler(handler, s);
  };

  const spdy = spdyOverSocket(r.socket, r.head, (stream) => {
    const type = stream.headers.streamtype as StreamType | undefined;
    if (!type || !['error', 'stdin', 'stdout', 'stderr', 'resize'].includes(type) || streams.has(type)) {
      streamLog.warn({ type }, 'exec spdy: unexpected stream, resetting');
      stream.reset();
      return;
    }
    streams.set(type, stream);
    if (!session && [...expected].every((t) => streams.has(t))) start();
  }, streamLog);
  const timer = setTimeout(() => {
    if (session) return;
    streamLog.warn({ pod: r.podName, got: [...streams.keys()] }, 'exec spdy: timed out waiting for client to create streams');
    spdy.close();
  }, STREAM_CREATION_TIMEOUT_MS);
  timer.unref();
  spdy.onClose(() => {
    clearTimeout(timer);
    (session as WireExecSession | null)?.closed();
    r.onClosed();
  });
}
