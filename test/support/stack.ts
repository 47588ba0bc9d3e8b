// The whole system in one test process: sandbox API server (HTTPS, tokens) ← agent → hub.
// `proxy()` speaks to the agent as a control plane would, through the hub's live session.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningAgent } from '../../src/agent/run.ts';
import { decodeResponseFrame, encodeIdFrame, frameRequestId, isGzip } from '../../src/protocol/binary-frame.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { type DeepPartial, tempDir, testAgent, testHub } from './hub-agent.ts';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import { waitFor } from './wait.ts';
import { sendUntyped } from './untyped-send.ts';

const FIX = join(import.meta.dir, '../fixtures/tls');
export const TLS = {
  cert: readFileSync(join(FIX, 'server.crt'), 'utf8'),
  key: readFileSync(join(FIX, 'server.key'), 'utf8'),
  ca: readFileSync(join(FIX, 'ca.crt'), 'utf8'),
};
export const SA_TOKEN = 'sandbox-agent-sa-token';
export const CP_TOKEN = 'sandbox-control-plane-token';

export interface Collected {
  messages: InboundMessage[];
  binary: Uint8Array[];
  done: Promise<InboundMessage | { type: 'binary'; frame: Uint8Array }>;
}

export interface Stack {
  sandbox: Sandbox;
  hub: Hub;
  agent: RunningAgent;
  clusterId: string;
  /** Send a proxy_request (payload as given) and collect everything the agent answers for its id. */
  proxy(payload: Record<string, unknown>, opts?: { id?: string; binaryBody?: Uint8Array }): Collected & { id: string };
  send(type: string, payload: Record<string, unknown> | null, id?: string): void;
  stop(): Promise<void>;
}

let seq = 0;

export async function startStack(opts: { agent?: DeepPartial<AgentConfigInput>; sandboxTokens?: Record<string, unknown> } = {}): Promise<Stack> {
  const sandbox = await startSandbox({
    tls: TLS,
    tokens: (opts.sandboxTokens as never) ?? { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' }, [CP_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } },
    seed: 'demo',
  });
  const hub = await testHub();
  const dir = tempDir();
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  const over = (opts.agent ?? {}) as DeepPartial<AgentConfigInput>;
  const agent = await testAgent(hub.url, dir, { ...over, kubernetes: { ...(over.kubernetes ?? {}), kubeconfig } } as DeepPartial<AgentConfigInput>);
  await waitFor(async () => (await fetch(`${agent.url}/ready`)).status === 200, { what: 'agent ready', timeoutMs: 15_000 });
  const clusterId = agent.status.snapshot().clusterId;
  const pending = new Map<string, { c: Collected; resolve: (m: InboundMessage | { type: 'binary'; frame: Uint8Array }) => void }>();
  hub.agents.onMessage((_cid, m) => {
    const id = m.requestId ?? (typeof m.payload.request_id === 'string' ? m.payload.request_id : undefined);
    const p = id ? pending.get(id) : undefined;
    if (!p) return;
    p.c.messages.push(m);
    if (['proxy_response', 'proxy_error', 'proxy_response_end', 'proxy_response_abort'].includes(m.type)) p.resolve(m);
  });
  hub.agents.onBinary((_cid, bytes) => {
    const frame = Uint8Array.from(bytes);
    const id = frameRequestId(frame);
    const p = id ? pending.get(id) : undefined;
    if (!p) return;
    p.c.binary.push(frame);
    p.resolve({ type: 'binary', frame });
  });
  const session = () => hub.agents.sessions.get(clusterId)!;
  return {
    sandbox,
    hub,
    agent,
    clusterId,
    proxy(payload, o = {}) {
      const id = o.id ?? `t-${++seq}`;
      let resolve!: (m: InboundMessage | { type: 'binary'; frame: Uint8Array }) => void;
      const done = new Promise<InboundMessage | { type: 'binary'; frame: Uint8Array }>((r) => (resolve = r));
      const c: Collected = { messages: [], binary: [], done };
      pending.set(id, { c, resolve });
      sendUntyped(session(), 'proxy_request', payload, id);
      if (o.binaryBody) session().sendBinary(encodeIdFrame(id, o.binaryBody));
      return { ...c, id };
    },
    send(type, payload, id) {
      sendUntyped(session(), type, payload, id);
    },
    async stop() {
      await agent.stop();
      await hub.stop();
      await sandbox.close();
    },
  };
}

/** The body of a finished buffered answer, decoded (base64 / gzip / binary frame with sniffed gzip). */
export function bodyOf(end: InboundMessage | { type: 'binary'; frame: Uint8Array }): { status: number; headers: Record<string, string[]> | null; body: Uint8Array; via: string } {
  if (end.type === 'binary') {
    const f = decodeResponseFrame((end as { frame: Uint8Array<ArrayBuffer> }).frame);
    if (!f.ok) throw new Error(f.error);
    const gz = isGzip(f.value.body);
    return { status: f.value.status, headers: f.value.headers, body: gz ? Bun.gunzipSync(f.value.body) : f.value.body, via: gz ? 'binary_gzip' : 'binary' };
  }
  const m = end as InboundMessage;
  if (m.type !== 'proxy_response') throw new Error(`not a response: ${m.type} ${JSON.stringify(m.payload)}`);
  const raw = typeof m.payload.body === 'string' ? Buffer.from(m.payload.body, 'base64') : Buffer.alloc(0);
  const gz = m.payload.encoding === 'gzip';
  return { status: m.payload.status as number, headers: m.payload.headers as Record<string, string[]> | null, body: gz ? Bun.gunzipSync(raw) : new Uint8Array(raw), via: gz ? 'json_gzip' : 'json' };
}
