// The hub side's table of requests and upgrades in flight toward agents, with the three agent listeners that
// route answers to them. Shared by every gateway that sends `proxy_request`s (Kubernetes API, public): `open`
// starts one exchange (its ProxyExchange, chunk credit and table row); the gateway then sends the request.
import type { ServerResponse } from 'node:http';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { frameRequestId } from '../../protocol/binary-frame.ts';
import type { AgentEndpoint, AgentSession } from '../agent-endpoint.ts';
import { ChunkCredit, windowMessage } from '../../protocol/flow-control.ts';
import type { SessionDirectory } from '../session-directory.ts';
import { applyAgentFrame, applyAgentMessage } from './agent-answer.ts';
import { Deadlines } from '../../timing/deadlines.ts';
import { type ExchangeInfo, type ExchangeOptions, ProxyExchange } from './proxy-exchange.ts';

export interface PendingExchange {
  exchange: ProxyExchange;
  session: AgentSession;
  /** Binary chunk credit, made at the first body chunk (a buffered answer never needs one). */
  credit: ChunkCredit | undefined;
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

/** What every exchange of one gateway shares (the table adds `cancel`, `finish` and the shared answer timer). */
export type ExchangeDefaults = Omit<ExchangeOptions, 'cancel' | 'finish' | 'deadlines'>;

export class AgentExchanges {
  readonly pending = new Map<string, PendingExchange>();
  readonly upgrades = new Map<string, PendingUpgrade>();
  readonly #offs: (() => unknown)[];
  /** One options object for every exchange of this table: no closures or spread per request. */
  readonly #opts: ExchangeOptions;

  constructor(
    agents: AgentEndpoint,
    private readonly directory: SessionDirectory,
    defaults: ExchangeDefaults,
  ) {
    this.#opts = {
      ...defaults,
      // Only the socket that carried the request knows the id; a replaced session has closed anyway.
      cancel: (ex) => {
        const p = this.pending.get(ex.info.requestId);
        if (p?.exchange === ex && this.current(ex.info.clusterId, p.session)) p.session.send({ type: 'proxy_cancel', payload: {}, requestId: ex.info.requestId });
      },
      finish: (ex) => {
        if (this.pending.get(ex.info.requestId)?.exchange === ex) this.pending.delete(ex.info.requestId);
      },
      deadlines: new Deadlines(() => performance.now()),
    };
    this.#offs = [
      agents.onMessage((clusterId, m) => this.#message(clusterId, m)),
      agents.onBinary((clusterId, bytes) => this.#binary(clusterId, bytes)),
      directory.onSession((clusterId) => this.#session(clusterId)),
    ];
  }

  /** True while `session` is still the cluster's session here (a reconnect replaces it). */
  current(clusterId: string, session: AgentSession): boolean {
    return this.directory.local(clusterId) === session;
  }

  /** Start one exchange toward `session`'s agent, answered on `res`. */
  open(session: AgentSession, info: ExchangeInfo, res: ServerResponse, endsCleanlyOnShutdown = false): PendingExchange {
    const p: PendingExchange = { exchange: undefined as unknown as ProxyExchange, session, credit: undefined };
    // In the table before the exchange exists: its constructor may already fail it (and `finish` removes it).
    this.pending.set(info.requestId, p);
    p.exchange = new ProxyExchange(info, res, this.#opts, endsCleanlyOnShutdown);
    return p;
  }

  /** The 'close' of `res` (for a table whose gateway watches it, `callerWatchesClose`). */
  clientClosed(requestId: string, res: ServerResponse): void {
    const p = this.pending.get(requestId);
    if (p && p.exchange.res === res) p.exchange.clientClosed();
  }

  #credit(p: PendingExchange): ChunkCredit {
    const { exchange, session } = p;
    const requestId = exchange.info.requestId;
    return (p.credit = new ChunkCredit(exchange.res, (n) => session.send(windowMessage(requestId, n)), () => this.pending.get(requestId)?.exchange === exchange));
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
    if (chunk) (p.credit ?? this.#credit(p)).add(chunk);
  }

  /** Lost, or replaced by a reconnect: requests written to the old socket will never be answered. */
  #session(clusterId: string): void {
    const current = this.directory.local(clusterId);
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
