// The hub side's table of requests and upgrades in flight toward agents, with the three agent listeners that
// route answers to them. Shared by every gateway that sends `proxy_request`s (Kubernetes API, public).
import type { InboundMessage } from '../../protocol/envelope.ts';
import { frameRequestId } from '../../protocol/binary-frame.ts';
import type { AgentEndpoint, AgentSession } from '../agent-endpoint.ts';
import type { ChunkCredit } from '../../protocol/flow-control.ts';
import { applyAgentFrame, applyAgentMessage } from './agent-answer.ts';
import type { ProxyExchange } from './proxy-exchange.ts';

export interface PendingExchange {
  exchange: ProxyExchange;
  session: AgentSession;
  credit: ChunkCredit;
}

/** An upgraded stream in flight: the raw upgrade relay, or channel translation for agents without `raw_upgrade`. */
export interface UpgradeHandler {
  message(m: InboundMessage): void;
  lost(): void;
}

export interface PendingUpgrade {
  relay: UpgradeHandler;
  clusterId: string;
  session: AgentSession;
}

export class AgentExchanges {
  readonly pending = new Map<string, PendingExchange>();
  readonly upgrades = new Map<string, PendingUpgrade>();
  readonly #offs: (() => unknown)[];

  constructor(private readonly agents: AgentEndpoint) {
    this.#offs = [
      agents.onMessage((clusterId, m) => this.#message(clusterId, m)),
      agents.onBinary((clusterId, bytes) => this.#binary(clusterId, bytes)),
      agents.onSession((clusterId) => this.#session(clusterId)),
    ];
  }

  // Other hub components share these messages; ids they do not own are ignored.
  #message(clusterId: string, m: InboundMessage): void {
    if (!m.requestId) return;
    const u = this.upgrades.get(m.requestId);
    if (u && u.clusterId === clusterId) return u.relay.message(m);
    const p = this.pending.get(m.requestId);
    if (!p || p.exchange.info.clusterId !== clusterId) return;
    applyAgentMessage(p.exchange, m, () => p.session.send({ type: 'proxy_cancel', payload: {}, requestId: p.exchange.info.requestId }));
  }

  #binary(clusterId: string, bytes: Uint8Array): void {
    const frame = bytes as Uint8Array<ArrayBuffer>;
    const id = frameRequestId(frame);
    const p = id ? this.pending.get(id) : undefined;
    if (!p || p.exchange.info.clusterId !== clusterId) return;
    // After a stream header, binary frames of this request are body chunks (negotiated `binary_chunks`).
    const chunk = applyAgentFrame(p.exchange, frame);
    if (chunk) p.credit.add(chunk);
  }

  /** Lost, or replaced by a reconnect: requests written to the old socket will never be answered. */
  #session(clusterId: string): void {
    const current = this.agents.sessions.get(clusterId);
    for (const u of [...this.upgrades.values()]) if (u.clusterId === clusterId && u.session !== current) u.relay.lost();
    for (const p of [...this.pending.values()])
      if (p.exchange.info.clusterId === clusterId && p.session !== current) p.exchange.fail(503, `cluster "${clusterId}" disconnected from the hub`);
  }

  /** Stop listening and fail everything still in flight (hub shutdown). */
  close(): void {
    for (const off of this.#offs) off();
    for (const p of [...this.pending.values()]) p.exchange.shutdown();
    for (const u of [...this.upgrades.values()]) u.relay.lost();
  }
}
