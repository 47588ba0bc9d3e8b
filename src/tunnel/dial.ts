// Dialing the control plane's WebSocket with the runtime's client: bearer auth, our TLS settings, no permessage-deflate
// (bodies are already gzipped and Bun compresses synchronously inside send(), bun-notes §7), handshake timeout.
import { runtime } from '#runtime';
import type { ClientWebSocket } from '../runtime/types.ts';

export interface TlsOptions {
  enabled: boolean;
  insecureSkipVerify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface DialFailure {
  ok: false;
  /** HTTP status of a refused handshake, when the server answered one. */
  status?: number;
  message: string;
}

export type DialResult = { ok: true; ws: ClientWebSocket } | DialFailure;

export function handshakeStatus(message: string): number | undefined {
  return runtime.handshakeStatus(message);
}

export function dialWebSocket(url: string, o: { token: string; tls: TlsOptions; handshakeMs: number }): Promise<DialResult> {
  const secure = url.startsWith('wss:');
  const tls = secure && o.tls.enabled ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, rejectUnauthorized: !o.tls.insecureSkipVerify } : undefined;
  return new Promise((resolve) => {
    let settled = false;
    let ws: ClientWebSocket;
    try {
      ws = runtime.openWebSocket(url, { headers: { Authorization: `Bearer ${o.token}` }, ...(tls ? { tls } : {}) });
    } catch (e) {
      resolve({ ok: false, message: (e as Error).message });
      return;
    }
    const finish = (r: DialResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('error', onError);
      ws.removeEventListener('close', onClose);
      resolve(r);
    };
    const onOpen = () => finish({ ok: true, ws });
    const onError = (ev: Event) => {
      const message = (ev as ErrorEvent).message || 'websocket error';
      finish({ ok: false, status: handshakeStatus(message), message });
    };
    const onClose = (ev: CloseEvent) => finish({ ok: false, message: `closed during handshake (${ev.code})` });
    const timer = setTimeout(() => {
      finish({ ok: false, message: `handshake timed out after ${o.handshakeMs} ms` });
      try {
        // No close handshake: the peer did not even finish the opening one.
        dropSocket(ws);
      } catch {
        // tearing down a socket that never opened can throw; it is being discarded anyway
      }
    }, o.handshakeMs);
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onError);
    ws.addEventListener('close', onClose);
  });
}

/** Tear the socket down at once, without a close handshake. */
export function dropSocket(ws: ClientWebSocket): void {
  ws.terminate();
}
