// port-forward: the three wires in use. kubectl ≥ 1.31 tunnels SPDY/3 inside a WebSocket
// (`SPDY/3.1+portforward.k8s.io`), older kubectl (and every version when WebSockets are refused) speaks raw
// SPDY after `Upgrade: SPDY/3.1`; client-node uses the kubelet's WebSocket channel protocol with `?ports=`.
import { encodeChannelMessage, decodeChannelMessage, negotiateSubprotocol } from './channel-protocol.ts';
import { headerList } from './exec.ts';
import { type PortForwardWire, WirePortForwardConnection } from './portforward-connection.ts';
import { defaultPortForward } from './programs.ts';
import { RST } from '../../kube/spdy-frame.ts';
import type { SpdyStream } from '../../kube/spdy.ts';
import { spdyOverSocket, spdyOverWebSocket } from '../../kube/spdy-transport.ts';
import { streamLog } from './stream-log.ts';
import type { PodStreamUpgrade, PortForwardHandler } from './types.ts';
import { rejectUpgrade, writeSwitchingProtocols } from '../../kube/upgrade-response.ts';
import { acceptWebSocket, handshakeProblem, isWebSocketUpgrade, offeredSubprotocols } from '../../kube/websocket-server.ts';

export const PORTFORWARD_SPDY_PROTOCOL = 'portforward.k8s.io';
export const PORTFORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const WS_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', PORTFORWARD_TUNNEL_PROTOCOL];

/** `?ports=80&ports=8080,9090` → [80, 8080, 9090], or the 400 message. */
export function parsePorts(query: URLSearchParams): number[] | { error: string } {
  const raw = query.getAll('ports').flatMap((v) => v.split(','));
  if (raw.length === 0) return { error: 'query parameter "ports" is required' };
  const ports: number[] = [];
  for (const r of raw) {
    const n = Number(r.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) return { error: `unable to parse "${r}" as a port` };
    ports.push(n);
  }
  return ports;
}

function podUid(pod: Record<string, unknown>): string {
  const uid = (pod.metadata as { uid?: unknown } | undefined)?.uid;
  return typeof uid === 'string' ? uid : '';
}

/** The kubelet's wording, which kubectl prints after "an error occurred forwarding L -> R:". */
function forwardError(r: PodStreamUpgrade, port: number, message: string): string {
  return `error forwarding port ${port} to pod ${r.podName}, uid ${podUid(r.pod)}: ${message}`;
}

function runHandler(handler: PortForwardHandler, conn: WirePortForwardConnection): void {
  Promise.resolve()
    .then(() => handler(conn))
    .catch((err: Error) => {
      streamLog.warn({ port: conn.port, err: err.message }, 'port-forward handler failed');
      conn.error(err.message);
    });
}

export function handlePortForwardUpgrade(r: PodStreamUpgrade): void {
  const handler = r.hooks.portForward ?? defaultPortForward(r.pod);
  if (isWebSocketUpgrade(r.req)) {
    if (r.hooks.rejectWebSockets) {
      rejectUpgrade(r.socket, 400, 'unable to upgrade streaming request: unsupported upgrade: websocket');
      r.onClosed();
      return;
    }
    const problem = handshakeProblem(r.req);
    const offered = offeredSubprotocols(r.req);
    const chosen = negotiateSubprotocol(offered, WS_PROTOCOLS);
    if (problem || chosen === null) {
      rejectUpgrade(
        r.socket,
        400,
        problem ?? `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${WS_PROTOCOLS.join(' ')}]`,
      );
      r.onClosed();
      return;
    }
    if (chosen === PORTFORWARD_TUNNEL_PROTOCOL) {
      const ws = acceptWebSocket(r.req, r.socket, r.head, chosen);
      spdyOverWebSocket(ws, spdyStreamPairer(r, handler), streamLog);
      ws.onClose(() => r.onClosed());
      return;
    }
    portForwardOverChannels(r, handler, chosen);
    return;
  }
  if ((r.req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1') {
    const offered = headerList(r.req.headers['x-stream-protocol-version']);
    if (!offered.includes(PORTFORWARD_SPDY_PROTOCOL)) {
      rejectUpgrade(
        r.socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${PORTFORWARD_SPDY_PROTOCOL}]`,
        'Forbidden',
      );
      r.onClosed();
      return;
    }
    writeSwitchingProtocols(r.socket, {
      Connection: 'Upgrade',
      Upgrade: 'SPDY/3.1',
      'X-Stream-Protocol-Version': PORTFORWARD_SPDY_PROTOCOL,
    });
    const session = spdyOverSocket(r.socket, r.head, spdyStreamPairer(r, handler), streamLog);
    session.onClose(() => r.onClosed());
    return;
  }
  rejectUpgrade(r.socket, 400, 'Upgrade request required');
  r.onClosed();
}

/**
 * kubectl opens an `error` and a `data` stream per local connection, tied by `requestid`. Once both exist the
 * pair becomes one PortForwardConnection. Failure = text on the error stream + FIN + RST of the data stream
 * (kubelet RemoveStreams); without the RST kubectl waits forever for the data stream to end.
 */
function spdyStreamPairer(r: PodStreamUpgrade, handler: PortForwardHandler): (s: SpdyStream) => void {
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream }>();
  return (stream) => {
    const { streamtype: type, port: portText, requestid: requestId = '' } = stream.headers;
    const port = Number(portText);
    if ((type !== 'data' && type !== 'error') || !Number.isInteger(port) || port < 1 || port > 65535) {
      streamLog.warn({ headers: stream.headers }, 'port-forward spdy: stream with bad headers, resetting');
      stream.reset(RST.protocolError);
      return;
    }
    const pair = pairs.get(requestId) ?? {};
    if (pair[type]) {
      streamLog.warn({ requestId, type }, 'port-forward spdy: duplicate stream for a request, resetting');
      stream.reset(RST.protocolError);
      return;
    }
    pair[type] = stream;
    pairs.set(requestId, pair);
    const { data, error } = pair;
    if (!data || !error) return;
    pairs.delete(requestId);
    const wire: PortForwardWire = {
      write: (d) => data.write(d),
      end: () => {
        data.end();
        error.end();
      },
      error: (message) => {
        error.write(Buffer.from(forwardError(r, port, message)));
        error.end();
        data.reset(RST.cancel);
      },
    };
    const conn = new WirePortForwardConnection(r.namespace, r.podName, port, wire);
    data.onData((d) => conn.deliverData(d));
    data.onEnd(() => conn.deliverEnd());
    data.onReset(() => conn.deliverEnd());
    runHandler(handler, conn);
  };
}

/** The kubelet WebSocket flavour: channel 2i = data of ports[i], 2i+1 = its errors; one connection per port. */
function portForwardOverChannels(r: PodStreamUpgrade, handler: PortForwardHandler, protocol: string): void {
  const ports = parsePorts(r.query);
  if (!Array.isArray(ports)) {
    rejectUpgrade(r.socket, 400, ports.error);
    r.onClosed();
    return;
  }
  const base64 = protocol === 'v4.base64.channel.k8s.io';
  const ws = acceptWebSocket(r.req, r.socket, r.head, protocol);
  const send = (channel: number, payload: Buffer) => {
    const m = encodeChannelMessage(base64, channel, payload);
    ws.send(m.data, m.binary);
  };
  let open = ports.length;
  const finished = () => {
    open -= 1;
    if (open === 0) ws.close(1000);
  };
  const conns = ports.map((port, i) => {
    // Both channels start with the port as uint16 little-endian; clients check it before anything else.
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    send(2 * i, prefix);
    send(2 * i + 1, prefix);
    return new WirePortForwardConnection(r.namespace, r.podName, port, {
      write: (d) => send(2 * i, d),
      end: finished,
      error: (message) => {
        send(2 * i + 1, Buffer.from(forwardError(r, port, message)));
        finished();
      },
    });
  });
  ws.onMessage((data, binary) => {
    let m: ReturnType<typeof decodeChannelMessage>;
    try {
      m = decodeChannelMessage(base64, data, binary);
    } catch (err) {
      streamLog.warn({ err: (err as Error).message }, 'port-forward websocket: undecodable message');
      ws.close(1003, 'undecodable channel message');
      return;
    }
    if (!m) return;
    const conn = conns[m.channel >> 1];
    if (!conn || m.channel % 2 === 1) {
      streamLog.debug({ channel: m.channel }, 'port-forward websocket: message on an unexpected channel dropped');
      return;
    }
    conn.deliverData(m.payload);
  });
  ws.onClose(() => {
    for (const c of conns) c.deliverEnd();
    r.onClosed();
  });
  for (const c of conns) runHandler(handler, c);
}
