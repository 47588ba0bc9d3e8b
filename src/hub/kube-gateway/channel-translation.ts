// How kubectl's exec, attach and port-forward travel to an agent that cannot replay upgrades (no `raw_upgrade`,
// e.g. the shipped Go agent): over `proxy_websocket_start` with upstream's channel translation (protocol.md §4,
// §4.3). Pure: the choice of wire per request, and the reading of what the agent sends back.
//
// What upstream's translation allows, and therefore what we support:
//  - exec/attach over WebSocket `v5.channel.k8s.io` or `v4.channel.k8s.io` (kubectl ≥ 1.30, client-node). The
//    agent turns the API server's channels 0–3 into text messages without the channel byte, so stdout and stderr
//    arrive merged (they are written to kubectl's stdout, or to stderr when only stderr was asked for), and the
//    status (channel 3) arrives as one more text message. It is recognised as the last text message before the
//    close that parses as a metav1.Status, so exit codes survive; a program whose very last output is exactly
//    such a JSON document while the API server sends no status would be misread (v4/v5 always send one).
//    Client → agent messages keep their channel byte (binary passes the agent unchanged): stdin, resize and the
//    v5 stdin close arrive byte-exact.
//  - port-forward as SPDY tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31): not a channel
//    protocol, so the agent relays binary messages unchanged, byte-exact. kubectl's raw SPDY port-forward (≤ 1.30,
//    or the SPDY fallback) is carried the same way: its bytes are the same SPDY stream, relayed into the tunnel.
//  - exec/attach over SPDY (kubectl ≤ 1.29, or `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`): the hub is the SPDY
//    server (stream protocol v4, or v5 when only that is offered) and speaks v5 to the API server through the
//    agent, so stdin's end (the SPDY FIN) travels as the v5 stdin close; the API server must speak v5
//    (Kubernetes ≥ 1.30). Output and status as above, on the stdout (or stderr) and error streams.
//  - Not supported (refused with a Status kubectl prints): the kubelet-style `v4.channel.k8s.io` port-forward
//    (client-node: the agent would merge its data and error channels), other subprotocols and other upgrade paths.

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export const PORTFORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
const SPDY_PORTFORWARD_VERSION = 'portforward.k8s.io';

export interface UpgradeFacts {
  method: string;
  path: string;
  query: string;
  /** The Upgrade header, lower-cased ('websocket', 'spdy/3.1'). */
  upgrade: string;
  /** Sec-WebSocket-Protocol values in the client's order. */
  offered: readonly string[];
  /** X-Stream-Protocol-Version values (SPDY) in the client's order. */
  streamVersions: readonly string[];
}

export type TranslationPlan =
  | {
      ok: true;
      kind: 'exec';
      /** Answered to the client and asked of the API server (so both ends agree on v4 vs v5). */
      protocol: (typeof EXEC_PROTOCOLS)[number];
      /** Where merged output goes: 1 (stdout) unless the client asked for stderr only. */
      outputChannel: 1 | 2;
    }
  | {
      ok: true;
      kind: 'spdy-exec';
      /** Answered to the client in X-Stream-Protocol-Version. */
      clientProtocol: (typeof EXEC_PROTOCOLS)[number];
      /** Asked of the API server: v5, whose stdin close carries the SPDY stdin FIN. */
      protocol: 'v5.channel.k8s.io';
      outputChannel: 1 | 2;
      /** The SPDY streams the client opens before anything starts (the kubelet waits for them too). */
      streams: readonly SpdyStreamType[];
    }
  | { ok: true; kind: 'tunnel'; client: 'websocket' | 'spdy'; protocol: typeof PORTFORWARD_TUNNEL_PROTOCOL }
  | { ok: false; status: number; message: string };

export type SpdyStreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

const WHY = "this cluster's agent does not advertise raw_upgrade (the upstream PipeOps agent), so streams go through its channel translation";

function subresource(path: string): string {
  return path.replace(/\/+$/, '').split('/').pop() ?? '';
}

function queryFlag(query: string, name: string): boolean {
  const v = new URLSearchParams(query).get(name);
  return v === 'true' || v === '1';
}

export function planTranslation(f: UpgradeFacts): TranslationPlan {
  const sub = subresource(f.path);
  const ws = f.upgrade === 'websocket';
  const spdy = f.upgrade.startsWith('spdy/');
  if (sub === 'exec' || sub === 'attach') {
    const outputChannel = !queryFlag(f.query, 'stdout') && queryFlag(f.query, 'stderr') ? 2 : 1;
    if (spdy) {
      const clientProtocol = (['v4.channel.k8s.io', 'v5.channel.k8s.io'] as const).find((p) => f.streamVersions.includes(p));
      if (!clientProtocol)
        return { ok: false, status: 400, message: `${sub} over SPDY needs stream protocol v4.channel.k8s.io or v5.channel.k8s.io, the client offered [${f.streamVersions.join(' ')}]; ${WHY}` };
      const tty = queryFlag(f.query, 'tty');
      const streams: SpdyStreamType[] = ['error'];
      if (queryFlag(f.query, 'stdin')) streams.push('stdin');
      if (queryFlag(f.query, 'stdout')) streams.push('stdout');
      if (queryFlag(f.query, 'stderr') && !tty) streams.push('stderr');
      if (tty) streams.push('resize');
      return { ok: true, kind: 'spdy-exec', clientProtocol, protocol: 'v5.channel.k8s.io', outputChannel, streams };
    }
    const protocol = f.offered.find((p): p is (typeof EXEC_PROTOCOLS)[number] => (EXEC_PROTOCOLS as readonly string[]).includes(p));
    if (!ws || !protocol) return { ok: false, status: 400, message: `requested protocol(s) are not supported: [${f.offered.join(' ')}]; ${WHY}, which carries ${EXEC_PROTOCOLS.join(' and ')}` };
    return { ok: true, kind: 'exec', protocol, outputChannel };
  }
  if (sub === 'portforward') {
    if (ws && f.offered.includes(PORTFORWARD_TUNNEL_PROTOCOL)) return { ok: true, kind: 'tunnel', client: 'websocket', protocol: PORTFORWARD_TUNNEL_PROTOCOL };
    if (spdy && f.streamVersions.includes(SPDY_PORTFORWARD_VERSION)) return { ok: true, kind: 'tunnel', client: 'spdy', protocol: PORTFORWARD_TUNNEL_PROTOCOL };
    return { ok: false, status: 400, message: `port-forward needs ${PORTFORWARD_TUNNEL_PROTOCOL} (WebSocket) or SPDY/3.1 ${SPDY_PORTFORWARD_VERSION}: ${WHY}` };
  }
  return { ok: false, status: 400, message: `upgrades of ${sub || 'this path'} are not supported: ${WHY}` };
}

/**
 * Is this text message (a translated channel 0–3 message) a metav1.Status, i.e. the API server's channel 3? Such a
 * message is held back until the next one shows whether it was the last.
 */
export function parseChannelStatus(text: string): Record<string, unknown> | null {
  if (!text.startsWith('{') || !text.includes('"status"')) return null;
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return null;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return null;
  const s = o as Record<string, unknown>;
  if (s.status !== 'Success' && s.status !== 'Failure') return null;
  if (s.kind !== 'Status' && (typeof s.metadata !== 'object' || s.metadata === null)) return null;
  return s;
}

/** A Status for channel 3 when the agent could not open the stream (its `proxy_error` text). */
export function failureStatus(message: string): string {
  const code = /status: (\d{3})/.exec(message)?.[1];
  return JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: code ? Number(code) : 500 });
}
