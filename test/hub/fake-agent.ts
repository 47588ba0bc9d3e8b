// A hand-made agent for the kube gateway tests: registers on the controller socket, connects to the gateway
// socket like a handed-off agent, and answers proxy_requests in whatever wire shape a test asks for.
import { decodeEnvelope, encodeEnvelope, type InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { EXTENSIONS_QUERY_PARAM, formatExtensions } from '../../src/protocol/extensions.ts';
import { CONTROLLER_WS_PATH } from '../../src/protocol/session-urls.ts';
import type { Hub } from '../../src/hub/server.ts';
import { AGENT_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

export interface ReceivedRequest {
  message: InboundMessage;
  /** The body: inline (base64) or the binary frame that followed. */
  body: Uint8Array;
  /** The binary frame arrived immediately after the JSON message. */
  frameAdjacent: boolean;
}

export type RequestHandler = (r: ReceivedRequest, a: FakeAgent) => void;

export class FakeAgent {
  readonly messages: InboundMessage[] = [];
  readonly requests: ReceivedRequest[] = [];
  handler: RequestHandler = () => {};
  #awaitingFrame: InboundMessage | null = null;
  #closed: Promise<void>;

  constructor(
    readonly ws: WebSocket,
    readonly clusterId: string,
  ) {
    ws.binaryType = 'arraybuffer';
    this.#closed = new Promise((r) => ws.addEventListener('close', () => r()));
    ws.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') {
        const frame = new Uint8Array(e.data as ArrayBuffer);
        const m = this.#awaitingFrame;
        this.#awaitingFrame = null;
        if (!m) throw new Error('fake agent: binary frame without a body_binary proxy_request before it');
        const idLen = (frame[0]! << 8) | frame[1]!;
        const id = new TextDecoder().decode(frame.subarray(2, 2 + idLen));
        this.#accept({ message: m, body: frame.subarray(2 + idLen), frameAdjacent: id === m.requestId });
        return;
      }
      const d = decodeEnvelope(e.data);
      if (!d.ok) throw new Error(`fake agent: undecodable message ${d.detail}`);
      const m = d.message;
      if (this.#awaitingFrame) {
        // A JSON message between a body_binary request and its frame: adjacency broken.
        const pending = this.#awaitingFrame;
        this.#awaitingFrame = null;
        this.#accept({ message: pending, body: new Uint8Array(0), frameAdjacent: false });
      }
      this.messages.push(m);
      if (m.type !== 'proxy_request') return;
      if (m.payload.body_binary === true) {
        this.#awaitingFrame = m;
        return;
      }
      const b = m.payload.body;
      this.#accept({ message: m, body: typeof b === 'string' ? Buffer.from(b, 'base64') : new Uint8Array(0), frameAdjacent: true });
    });
  }

  #accept(r: ReceivedRequest): void {
    this.requests.push(r);
    this.handler(r, this);
  }

  send(type: string, payload: Record<string, unknown> | null, requestId: string): void {
    this.ws.send(encodeEnvelope(type, payload, requestId));
  }

  /** Buffered JSON answer; `encoding` as the agent would choose it. */
  respondJson(id: string, status: number, headers: Record<string, string[]> | null, body: Uint8Array, encoding: 'base64' | 'gzip'): void {
    const payload: Record<string, unknown> = { status, headers };
    if (body.length) {
      payload.body = Buffer.from(encoding === 'gzip' ? Bun.gzipSync(body as Uint8Array<ArrayBuffer>) : body).toString('base64');
      payload.encoding = encoding;
    }
    this.send('proxy_response', payload, id);
  }

  respondFrame(id: string, status: number, headers: Record<string, string[]> | null, body: Uint8Array, gzip: boolean): void {
    this.ws.send(encodeResponseFrame(id, status, headers, gzip ? Bun.gzipSync(body as Uint8Array<ArrayBuffer>) : body));
  }

  header(id: string, status: number, headers: Record<string, string[]> | null): void {
    this.send('proxy_response_header', { status, headers }, id);
  }

  chunk(id: string, bytes: Uint8Array | string): void {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    this.send('proxy_response_chunk', { data: Buffer.from(b).toString('base64'), encoding: 'base64', size: b.length }, id);
  }

  cancels(id: string): InboundMessage[] {
    return this.messages.filter((m) => m.type === 'proxy_cancel' && m.requestId === id);
  }

  async close(): Promise<void> {
    this.ws.close(1000, 'bye');
    await this.#closed;
  }
}

function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` }, perMessageDeflate: false } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`fake agent: cannot connect to ${url}`)), { once: true });
  });
}

/**
 * Register `name` (with a ServiceAccount token) and open its gateway session, as a handed-off agent does. It
 * advertises every extension of ours, as our agent does, unless `extensions` says otherwise ('' = none).
 */
export async function connectFakeAgent(hub: Hub, name: string, serviceToken: string, extensions = formatExtensions()): Promise<FakeAgent> {
  const ctl = await openSocket(`${hub.wsUrl}${CONTROLLER_WS_PATH}`);
  const success = new Promise<Record<string, unknown>>((resolve) =>
    ctl.addEventListener('message', (e) => {
      const d = decodeEnvelope(String(e.data));
      if (d.ok && d.message.type === 'register_success') resolve(d.message.payload);
    }),
  );
  ctl.send(
    encodeEnvelope(
      'register',
      {
        agent_id: `fake-${name}`,
        name,
        k8s_version: 'v1.32.0',
        hostname: 'fake',
        agent_version: 'test',
        server_ip: '127.0.0.1',
        region: '',
        cloud_provider: '',
        tunnel_port_config: { kubernetes_api: 0, kubelet: 0, agent_http: 0 },
        labels: {},
        server_specs: {},
        features: {},
        k8s_service_token: serviceToken,
      },
      `req_${Date.now()}`,
    ),
  );
  const p = await success;
  ctl.close();
  const clusterId = String(p.cluster_id);
  const ext = extensions ? `&${EXTENSIONS_QUERY_PARAM}=${encodeURIComponent(extensions)}` : '';
  const gw = await openSocket(`${String(p.gateway_ws_url)}?cluster_uuid=${encodeURIComponent(clusterId)}${ext}`);
  const agent = new FakeAgent(gw, clusterId);
  await waitFor(() => hub.agents.isConnected(clusterId), { what: `fake agent ${name} connected` });
  return agent;
}
