// The raw upgrade relay (negotiated `raw_upgrade`, see src/protocol/stream-messages.ts): replay an HTTP/1.1
// upgrade request to the target over TCP or TLS, return its response head, then pipe the upgraded bytes.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { parseResponseHead } from '../protocol/upgrade-head.ts';

export interface UpgradeTarget {
  host: string;
  port: number;
  tls: false | { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean; servername?: string };
}

export interface UpgradeResponse {
  status: number;
  headers: Record<string, string[]>;
  /** For a non-101 answer: its body (bounded). */
  body: Uint8Array;
  /** For a 101: the connection, with any bytes read past the head pushed back (unshift). */
  socket: Socket | null;
}

const MAX_HEAD = 64 * 1024;
const MAX_ERROR_BODY = 256 * 1024;

/** Parse `host:port` targets from a URL, defaulting the port by scheme. */
export function targetFromUrl(url: string, tls: Omit<Exclude<UpgradeTarget['tls'], false>, 'servername'> | null): UpgradeTarget {
  const u = new URL(url);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port: Number(u.port) || (secure ? 443 : 80),
    tls: secure ? { ...(tls ?? { rejectUnauthorized: true }), servername: /^[\d.:]+$/.test(host) ? undefined : host } : false,
  };
}

export function openUpgrade(t: UpgradeTarget, head: string, signal: AbortSignal, timeoutMs: number): Promise<UpgradeResponse> {
  return new Promise((resolve, reject) => {
    const socket: Socket = t.tls
      ? tlsConnect({ host: t.host, port: t.port, ca: t.tls.ca, cert: t.tls.cert, key: t.tls.key, rejectUnauthorized: t.tls.rejectUnauthorized, servername: t.tls.servername })
      : netConnect({ host: t.host, port: t.port });
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let parsed: { status: number; headers: Record<string, string[]> } | null = null;
    let bodyStart = 0;
    const timer = setTimeout(() => fail(new Error(`upgrade to ${t.host}:${t.port} timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => fail(new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
    }
    function fail(e: Error) {
      cleanup();
      socket.destroy();
      reject(e);
    }
    function finishError() {
      cleanup();
      socket.destroy();
      resolve({ status: parsed!.status, headers: parsed!.headers, body: new Uint8Array(buf.subarray(bodyStart, bodyStart + MAX_ERROR_BODY)), socket: null });
    }
    function onEnd() {
      if (parsed && parsed.status !== 101) finishError();
      else fail(new Error(`${t.host}:${t.port} closed the connection before answering the upgrade`));
    }
    function onData(chunk: Buffer) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!parsed) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEAD) fail(new Error('upgrade response head too large'));
          return;
        }
        parsed = parseResponseHead(buf.subarray(0, end).toString('latin1'));
        if (!parsed) return fail(new Error('malformed upgrade response'));
        bodyStart = end + 4;
        if (parsed.status === 101) {
          cleanup();
          const rest = buf.subarray(bodyStart);
          socket.pause();
          if (rest.length) socket.unshift(rest);
          resolve({ ...parsed, body: new Uint8Array(0), socket });
          return;
        }
      }
      const len = Number(parsed.headers['Content-Length']?.[0] ?? parsed.headers['content-length']?.[0] ?? Number.NaN);
      if ((Number.isFinite(len) && buf.length - bodyStart >= len) || buf.length - bodyStart >= MAX_ERROR_BODY) finishError();
    }
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('end', onEnd);
    socket.once(t.tls ? 'secureConnect' : 'connect', () => socket.write(head));
  });
}
