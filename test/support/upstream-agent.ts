// A test double of the shipped PipeOps Go agent as protocol.md describes it (upstream HEAD 90d1e8e), written
// from the spec and not from our agent: it registers on the controller socket (§2.5.1: no extensions, agent
// version 1.0.0-dev), follows the hand-off to the gateway with upstream's query (§2.1), answers ping, sends a
// heartbeat (§7), proxies HTTP to the API server with the caller's headers and a 30 s total timeout that cuts
// watches (§3.4, §3.5, §11.21), treats an upgrade `proxy_request` for the API as §4.5 does (headers lost, answer
// 200) and one for a Service as the application relay of §3.8 (backend close never reported), and serves
// `proxy_websocket_start` by dialling the API server itself with channel translation (§4.1–§4.4).
// Not modelled: yamux (the hub never sends gateway_hello), gzip of buffered answers (§3.7; the hub accepts
// both), the 100-message per-stream buffer that drops on overflow (§4.3; JavaScript's send never blocks).
import { decodeEnvelope, type InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { CONTROLLER_WS_PATH } from '../../src/protocol/session-urls.ts';

const HOP_BY_HOP = ['connection', 'transfer-encoding', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailers', 'upgrade'];
const DEFAULT_STREAM_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const STREAM_PATH_PREFIXES = ['/api/', '/apis/', '/version', '/healthz', '/readyz', '/livez', '/openapi/'];

export interface UpstreamAgentOptions {
  /** Hub base URL (http://…); the controller socket is derived as §2.1 does. */
  hubUrl: string;
  token: string;
  clusterName: string;
  /** Sent as `k8s_service_token`; also the agent's own ServiceAccount token injected into streams (§4.2). */
  serviceToken: string;
  apiServer: { url: string; ca?: string };
  /** Backend client timeout, body included (§3.4: 30 s). */
  httpTimeoutMs?: number;
  /** Where `<name>.<namespace>.svc:<port>` is reachable (host:port) for the application relay (§3.8). */
  serviceAddress?: (namespace: string, name: string, port: number) => string;
}

interface Stream {
  ws: WebSocket | null;
  queue: { opcode: number; payload: Uint8Array }[];
  translate: boolean;
  closed: boolean;
}

export class UpstreamAgentDouble {
  clusterId = '';
  /** Every message the double received (for assertions). */
  readonly received: InboundMessage[] = [];
  readonly #streams = new Map<string, Stream>();
  /** Application WebSocket relays (§3.8), by proxy request id. */
  readonly #apps = new Map<string, WebSocket>();
  #gw: WebSocket | null = null;
  #fallbackSent = false;
  #awaitingBody: { m: InboundMessage } | null = null;

  private constructor(readonly o: UpstreamAgentOptions) {}

  static async connect(o: UpstreamAgentOptions): Promise<UpstreamAgentDouble> {
    const a = new UpstreamAgentDouble(o);
    await a.#register();
    return a;
  }

  #emit(ws: WebSocket, type: string, payload: Record<string, unknown> | null, requestId?: string): void {
    const env: Record<string, unknown> = { type };
    if (requestId) env.request_id = requestId;
    env.payload = payload;
    env.timestamp = new Date().toISOString();
    ws.send(JSON.stringify(env));
  }

  #send(type: string, payload: Record<string, unknown> | null, requestId?: string): void {
    if (this.#gw && this.#gw.readyState === WebSocket.OPEN) this.#emit(this.#gw, type, payload, requestId);
  }

  async #register(): Promise<void> {
    const u = new URL(this.o.hubUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'; // §2.1 (the https→wss, else ws quirk)
    u.pathname = CONTROLLER_WS_PATH;
    const ctl = await open(u.toString(), this.o.token);
    const requestId = `req_${BigInt(Date.now()) * 1_000_000n}_agent-0123456789abcdef`;
    const success = new Promise<Record<string, unknown>>((resolve, reject) => {
      ctl.addEventListener('message', (e) => {
        const d = decodeEnvelope(String(e.data));
        if (!d.ok) return;
        if (d.message.type === 'register_success' && d.message.requestId === requestId) resolve(d.message.payload);
        if (d.message.type === 'error') reject(new Error(`register failed: ${JSON.stringify(d.message.payload)}`));
      });
    });
    this.#emit(
      ctl,
      'register',
      {
        agent_id: 'agent-0123456789abcdef',
        name: this.o.clusterName,
        k8s_version: 'v1.32.0',
        hostname: 'pipeops-agent-7d9f',
        agent_version: '1.0.0-dev',
        server_ip: '0.0.0.0',
        region: 'unknown-country',
        cloud_provider: 'agent',
        tunnel_port_config: { kubernetes_api: 6443, kubelet: 10250, agent_http: 8080 },
        labels: { hostname: 'pipeops-agent-7d9f', 'agent.pipeops.io/version': '1.0.0-dev' },
        server_specs: { cpu_cores: 2, os: 'linux' },
        features: {
          supports_streaming: true,
          supports_binary_protocol: true,
          supports_compression: true,
          supports_websocket_proxy: true,
          supports_gateway: true,
          supports_response_streaming: true,
        },
        metadata: { agent_mode: 'vm-agent', registration_timestamp: new Date().toISOString(), registration_mode: 'fresh' },
        k8s_service_token: this.o.serviceToken,
      },
      requestId,
    );
    const p = await success;
    this.clusterId = String(p.cluster_uuid || p.cluster_id);
    if (typeof p.gateway_ws_url !== 'string' || !p.gateway_ws_url) throw new Error('the double models the gateway hand-off only');
    ctl.close(1000);
    const g = new URL(p.gateway_ws_url);
    if (g.protocol === 'https:') g.protocol = 'wss:';
    else if (g.protocol === 'http:') g.protocol = 'ws:';
    const q = new URLSearchParams(g.search);
    for (const [k, v] of Object.entries({
      agent_version: '1.0.0-dev',
      cluster_uuid: this.clusterId,
      supports_binary: 'true',
      supports_response_streaming: 'true',
      supports_streaming: 'true',
      supports_websocket: 'true',
      supports_yamux: 'true',
    }))
      q.set(k, v);
    q.sort();
    g.search = q.toString();
    this.#gw = await open(g.toString(), this.o.token);
    this.#gw.addEventListener('message', (e) => this.#onMessage(e.data as string | ArrayBuffer));
    this.#send('heartbeat', { cluster_id: this.clusterId, agent_id: 'agent-0123456789abcdef', status: 'healthy', tunnel_status: 'connected', metadata: {} });
  }

  #onMessage(data: string | ArrayBuffer): void {
    if (typeof data !== 'string') {
      // §3.2: the body of the preceding body_binary request; legacy JSON-in-binary otherwise.
      const pending = this.#awaitingBody;
      this.#awaitingBody = null;
      if (pending) {
        const b = new Uint8Array(data);
        const idLen = (b[0]! << 8) | b[1]!;
        void this.#proxyHttp(pending.m, b.subarray(2 + idLen));
      }
      return;
    }
    const d = decodeEnvelope(data);
    if (!d.ok) return; // §2.3: undecodable messages are dropped
    const m = d.message;
    this.received.push(m);
    const p = m.payload;
    switch (m.type) {
      case 'ping':
        return this.#send('pong', { timestamp: new Date().toISOString() }, m.requestId);
      case 'register_success':
      case 'register_in_progress':
      case 'heartbeat_ack':
      case 'pong':
      case 'error':
      case 'proxy_cancel':
      case 'proxy_request_chunk':
      case 'proxy_request_stream_end':
      case 'proxy_stream_data':
        return;
      case 'proxy_request':
        if (!m.requestId) return; // §11.2: silently dropped
        if (p.body_binary === true) {
          this.#awaitingBody = { m };
          return;
        }
        return void this.#proxyRequest(m);
      case 'proxy_websocket_start':
      case 'ws_start':
        return this.#startStream(m.requestId, p);
      case 'proxy_websocket_data':
      case 'ws_data':
        // §2.6: a kubectl stream when stream_id names one, else the application relay.
        if (typeof p.stream_id === 'string' && this.#streams.has(p.stream_id)) return this.#streamData(p);
        return this.#appData(m);
      case 'proxy_websocket_close':
      case 'ws_close': {
        this.#closeStream(typeof p.stream_id === 'string' ? p.stream_id : '', true);
        const app = this.#apps.get(appId(m));
        this.#apps.delete(appId(m));
        app?.close(1000);
        return;
      }
      default:
        if (this.#fallbackSent) return;
        this.#fallbackSent = true;
        this.#send('protocol_fallback', {
          agent_version: 'pipeops-k8-agent',
          unknown_type: m.type,
          fallback_mode: 'legacy_proxy',
          protocol_version: '1.0',
          timestamp: new Date().toISOString(),
          ...(m.requestId ? { original_request_id: m.requestId } : {}),
        });
    }
  }

  async #proxyRequest(m: InboundMessage): Promise<void> {
    const p = m.payload;
    const body = typeof p.body === 'string' ? (String(p.body_encoding).toLowerCase() === 'base64' ? Buffer.from(p.body, 'base64') : Buffer.from(p.body)) : undefined;
    const headers = headerMap(p.headers);
    const isWs =
      p.is_websocket === true ||
      p.isWebSocket === true ||
      Object.entries(headers).some(([k, v]) => (k.toLowerCase() === 'upgrade' && v.some((x) => x.toLowerCase() === 'websocket')) || (/^sec-websocket-(key|version|protocol)$/i.test(k) && v.some((x) => x.trim())));
    const path = String(p.path ?? '');
    if (isWs && (path.startsWith('/api/') || path.startsWith('/apis/')) && !(p.service_name && p.namespace && Number(p.service_port) > 0)) {
      // §4.5: the hand-off loses the headers; the buffered writer closes with 200, not 101.
      this.#startStream(m.requestId, { stream_id: m.requestId, method: p.method, path, query: p.query });
      if (p.supports_response_streaming === true) this.#send('proxy_response_end', {}, m.requestId);
      else this.#send('proxy_response', { status: 200, headers: null }, m.requestId);
      return;
    }
    if (isWs) return this.#appWebSocket(m, headers);
    await this.#proxyHttp(m, body);
  }

  /** §3.8: dial the Service, answer 101 (buffered), relay frames with the opcode prefix; backend close unreported (W1). */
  #appWebSocket(m: InboundMessage, headers: Record<string, string[]>): void {
    const p = m.payload;
    const id = m.requestId!;
    const name = String(p.service_name ?? '');
    const ns = String(p.namespace ?? '');
    const port = Number(p.service_port ?? 0);
    if (!name || !ns || !port || !this.o.serviceAddress) return this.#send('proxy_error', { error: 'missing service routing information for WebSocket' }, id);
    const out: Record<string, string> = {};
    for (const [k, vs] of Object.entries(headers)) {
      const l = k.toLowerCase();
      if (HOP_BY_HOP.includes(l) || l === 'host' || l === 'proxy-connection' || (l.startsWith('sec-websocket-') && l !== 'sec-websocket-protocol')) continue;
      out[k] = vs.join(', ');
    }
    const ws = new WebSocket(`ws://${this.o.serviceAddress(ns, name, port)}${String(p.path ?? '/')}${p.query ? `?${String(p.query)}` : ''}`, { headers: out } as unknown as string[]);
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      this.#apps.set(id, ws);
      const h: Record<string, string[]> = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
      if (ws.protocol) h['Sec-Websocket-Protocol'] = [ws.protocol];
      this.#send('proxy_response', { status: 101, headers: h }, id);
    });
    ws.addEventListener('message', (e) => {
      const text = typeof e.data === 'string';
      const payload = text ? Buffer.from(e.data as string) : new Uint8Array(e.data as ArrayBuffer);
      const framed = Buffer.allocUnsafe(payload.length + 1);
      framed[0] = text ? 1 : 2;
      framed.set(payload, 1);
      this.#send('proxy_websocket_data', { request_id: id, stream_id: id, data: framed.toString('base64'), message_type: text ? 1 : 2 }, id);
    });
    ws.addEventListener('close', () => {
      if (!opened) this.#send('proxy_error', { error: 'websocket: bad handshake' }, id);
      this.#apps.delete(id);
    });
  }

  /** §3.8 step 6: [opcode][payload], or a raw payload with `message_type`. */
  #appData(m: InboundMessage): void {
    const ws = this.#apps.get(appId(m));
    const p = m.payload;
    if (!ws || typeof p.data !== 'string') return;
    let b = new Uint8Array(Buffer.from(p.data, 'base64'));
    const mt = typeof p.message_type === 'number' ? p.message_type : 0;
    if (![1, 2, 8, 9, 10].includes(b[0] ?? -1) && [1, 2, 8, 9, 10].includes(mt)) b = Uint8Array.from([mt, ...b]);
    const opcode = b[0];
    if (opcode === 1) ws.send(Buffer.from(b.subarray(1)).toString());
    else if (opcode === 2) ws.send(Uint8Array.from(b.subarray(1)));
    else if (opcode === 8) ws.close(1000);
  }

  /** §3.4 Kubernetes API proxy: the caller's headers verbatim, no token injected, 30 s including the body. */
  async #proxyHttp(m: InboundMessage, body: Uint8Array | undefined): Promise<void> {
    const p = m.payload;
    const id = m.requestId!;
    const streaming = p.supports_response_streaming === true;
    const url = `${this.o.apiServer.url}${String(p.path ?? '').startsWith('/') ? '' : '/'}${String(p.path ?? '')}${p.query ? `?${String(p.query)}` : ''}`;
    const headers = new Headers();
    for (const [k, vs] of Object.entries(headerMap(p.headers))) for (const v of vs) headers.append(k, v);
    let headerSent = false;
    try {
      const res = await fetch(url, {
        method: String(p.method || 'GET').toUpperCase(),
        headers,
        body: body && body.length ? body : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.o.httpTimeoutMs ?? 30_000),
        tls: { ca: this.o.apiServer.ca },
      } as RequestInit);
      const h: Record<string, string[]> = {};
      res.headers.forEach((v, k) => {
        if (HOP_BY_HOP.includes(k)) return;
        (h[canonical(k)] ??= []).push(v);
      });
      const hdrs = Object.keys(h).length ? h : null;
      if (streaming) {
        this.#send('proxy_response_header', { status: res.status, headers: hdrs }, id);
        headerSent = true;
        const reader = res.body?.getReader();
        for (;;) {
          const r = reader ? await reader.read() : { done: true as const, value: undefined };
          if (r.done) break;
          for (let at = 0; at < r.value.length; at += 32 * 1024) {
            const c = r.value.subarray(at, at + 32 * 1024);
            this.#send('proxy_response_chunk', { data: Buffer.from(c).toString('base64'), encoding: 'base64', size: c.length }, id);
          }
        }
        this.#send('proxy_response_end', {}, id);
        return;
      }
      const all = new Uint8Array(await res.arrayBuffer());
      if (all.length >= 10_240 && this.#gw) {
        this.#gw.send(encodeResponseFrame(id, res.status, hdrs, all)); // §3.6
        return;
      }
      const payload: Record<string, unknown> = { status: res.status, headers: hdrs };
      if (all.length) {
        payload.body = Buffer.from(all).toString('base64');
        payload.encoding = 'base64';
      }
      this.#send('proxy_response', payload, id);
    } catch (e) {
      const error = (e as Error).name === 'TimeoutError' ? 'context deadline exceeded (Client.Timeout or context cancellation while reading body)' : (e as Error).message;
      if (streaming) this.#send('proxy_response_abort', { error }, id);
      else if (!headerSent) this.#send('proxy_error', { error }, id);
    }
  }

  /** §4.1–§4.2: validate, register synchronously, dial the API server asynchronously. */
  #startStream(requestId: string | undefined, p: Record<string, unknown>): void {
    const streamId = typeof p.stream_id === 'string' ? p.stream_id : '';
    if (!streamId) return this.#send('proxy_error', { request_id: requestId, error: 'missing stream_id' }, requestId);
    const raw = typeof p.path === 'string' ? p.path : '';
    const path = raw.replace(/\.\./g, '').replace(/\/{2,}/g, '/');
    if (!raw || /[%\\\r\n]/.test(raw) || !(STREAM_PATH_PREFIXES.some((x) => path.startsWith(x)) || path === '/api' || path === '/apis'))
      return this.#send('proxy_error', { request_id: requestId, error: 'invalid path: must be a Kubernetes API path' }, requestId);
    const headers = headerMap(p.headers);
    const offered: string[] = [];
    const add = (list: string) => {
      for (const x of list.split(',').map((s) => s.trim())) if (x && !offered.includes(x)) offered.push(x);
    };
    if (typeof p.protocol === 'string') add(p.protocol);
    for (const [k, vs] of Object.entries(headers)) if (k.toLowerCase() === 'sec-websocket-protocol') vs.forEach(add);
    if (!offered.length && path.split('/').some((s) => s === 'exec' || s === 'attach' || s === 'portforward')) offered.push(...DEFAULT_STREAM_PROTOCOLS);
    const out: Record<string, string> = {};
    for (const [k, vs] of Object.entries(headers)) {
      const l = k.toLowerCase();
      if (HOP_BY_HOP.includes(l) || l === 'host' || /^sec-websocket-(key|version|extensions|protocol)$/.test(l)) continue;
      out[k] = vs.join(', ');
    }
    if (!('Authorization' in out)) out.Authorization = `Bearer ${this.o.serviceToken}`;
    const query = String(p.query ?? '').replace(/[\r\n\0]/g, '');
    const target = new URL(this.o.apiServer.url);
    target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${target.origin}${path}${query ? `?${query}` : ''}`;
    const s: Stream = { ws: null, queue: [], translate: false, closed: false };
    this.#streams.set(streamId, s);
    // gorilla offers any subprotocol string; Bun's client refuses non-token ones such as SPDY/3.1+portforward.k8s.io
    // in `protocols`, so the list travels as the raw header (test double only).
    if (offered.length) out['Sec-WebSocket-Protocol'] = offered.join(', ');
    const ws = new WebSocket(url, { headers: out, perMessageDeflate: false, tls: { ca: this.o.apiServer.ca } } as unknown as string[]);
    ws.binaryType = 'arraybuffer';
    s.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      s.translate = ws.protocol === 'channel.k8s.io' || ws.protocol.endsWith('.channel.k8s.io');
      for (const f of s.queue.splice(0)) this.#toApiServer(s, f.opcode, f.payload);
    });
    ws.addEventListener('message', (e) => {
      let opcode = 2;
      let payload: Uint8Array;
      if (typeof e.data === 'string') {
        opcode = 1;
        payload = Buffer.from(e.data);
      } else {
        payload = new Uint8Array(e.data as ArrayBuffer);
        // §4.3: channels 0–3 become text without the channel byte.
        if (s.translate && payload.length > 0 && payload[0]! <= 3) {
          opcode = 1;
          payload = payload.subarray(1);
        }
      }
      const framed = Buffer.allocUnsafe(payload.length + 1);
      framed[0] = opcode;
      framed.set(payload, 1);
      this.#send('proxy_websocket_data', { stream_id: streamId, data: framed.toString('base64') }, streamId);
    });
    // Bun's client does not expose the refused handshake's HTTP status, which upstream appends as `(status: N)`.
    ws.addEventListener('close', () => {
      if (!opened) this.#send('proxy_error', { request_id: streamId, error: 'failed to connect to K8s API: websocket: bad handshake' }, streamId);
      this.#closeStream(streamId, false);
    });
  }

  /** §4.3 CP → API server: the opcode prefix is required; text becomes binary stdin when translating. */
  #streamData(p: Record<string, unknown>): void {
    const s = typeof p.stream_id === 'string' ? this.#streams.get(p.stream_id) : undefined;
    if (!s || s.closed || typeof p.data !== 'string') return;
    const b = new Uint8Array(Buffer.from(p.data, 'base64'));
    if (b.length === 0) return;
    const f = { opcode: b[0]!, payload: b.subarray(1) };
    if (!s.ws || s.ws.readyState !== WebSocket.OPEN) s.queue.push(f);
    else this.#toApiServer(s, f.opcode, f.payload);
  }

  #toApiServer(s: Stream, opcode: number, payload: Uint8Array): void {
    if (opcode === 1 && s.translate) {
      const b = new Uint8Array(payload.length + 1);
      b.set(payload, 1);
      s.ws!.send(b);
    } else if (opcode === 1) s.ws!.send(Buffer.from(payload).toString());
    else if (opcode === 2) s.ws!.send(Uint8Array.from(payload));
  }

  /** §4.4: a close from either side is reported (and a control-plane close is echoed). */
  #closeStream(streamId: string, fromControlPlane: boolean): void {
    const s = this.#streams.get(streamId);
    if (!s || s.closed) return;
    s.closed = true;
    this.#streams.delete(streamId);
    if (fromControlPlane) s.ws?.close(1000);
    this.#send('proxy_websocket_close', { stream_id: streamId }, streamId);
  }

  get activeStreams(): number {
    return this.#streams.size;
  }

  async close(): Promise<void> {
    for (const id of [...this.#streams.keys()]) this.#closeStream(id, true);
    const gw = this.#gw;
    if (!gw || gw.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((r) => gw.addEventListener('close', () => r(), { once: true }));
    gw.close(1000);
    await closed;
  }
}

/** §3.8: the application relay's id is payload.request_id ▸ payload.stream_id ▸ the top-level request_id. */
function appId(m: InboundMessage): string {
  const p = m.payload;
  return (typeof p.request_id === 'string' && p.request_id) || (typeof p.stream_id === 'string' && p.stream_id) || m.requestId || '';
}

function open(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`upstream double: cannot connect to ${url}`)), { once: true });
  });
}

function headerMap(raw: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = [v];
    else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === 'string');
  }
  return out;
}

function canonical(k: string): string {
  return k.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}
