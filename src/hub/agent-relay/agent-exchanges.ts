// The hub side's table of requests and upgrades in flight toward agents, with the three agent listeners that
// route answers to them. Shared by every gateway that sends `proxy_request`s (Kubernetes API, public): `open`
// starts one exchange (its ProxyExchange, chunk credit and table row); the gateway then sends the request.
import type { InboundMessage } from '../../protocol/envelope.ts';
import { frameRequestId } from '../../protocol/binary-frame.ts';
import type { AgentEndpoint, AgentSession } from '../agent-endpoint.ts';
import { ChunkCredit, windowMessage } from '../../protocol/flow-control.ts';
import type { SessionDirectory } from '../session-directory.ts';
import { applyAgentFrame, applyAgentMessage } from './agent-answer.ts';
import { DeadlineSweep } from '../../timing/deadlines.ts';
import { type ClientAnswer, type ExchangeInfo, type ExchangeOptions, ProxyExchange } from './proxy-exchange.ts';

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
export type ExchangeDefaults = Omit<ExchangeOptions, 'cancel' | 'finish' | 'sweep'>;

export class AgentExchanges {
  /** Exchanges in flight by request id: the exchange is the table's row (session and chunk credit are its fields). */
  readonly pending = new Map<string, ProxyExchange>();
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
        if (this.pending.get(ex.info.requestId) === ex && this.current(ex.info.clusterId, ex.session)) ex.session.send({ type: 'proxy_cancel', payload: {}, requestId: ex.info.requestId });
      },
      finish: (ex) => {
        if (this.pending.get(ex.info.requestId) === ex) this.pending.delete(ex.info.requestId);
      },
      // Not stopped when the table empties (a clearTimeout and setTimeout per request when requests come one at a
      // time): the timer wakes at most once per answer timeout, finds nothing due, and is not re-armed; close() stops it.
      sweep: new DeadlineSweep<ProxyExchange>(
        () => this.pending.values(),
        (ex) => ex.expire(),
        () => performance.now(),
      ),
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
  open(session: AgentSession, info: ExchangeInfo, res: ClientAnswer, endsCleanlyOnShutdown = false): ProxyExchange {
    // The constructor only arms the answer timeout (fired later, from a timer): nothing can finish it before `set`.
    const ex = new ProxyExchange(info, res, session, this.#opts, endsCleanlyOnShutdown);
    this.pending.set(info.requestId, ex);
    return ex;
  }

  /** The 'close' of `res` (for a table whose gateway watches it, `callerWatchesClose`). */
  clientClosed(requestId: string, res: ClientAnswer): void {
    const ex = this.pending.get(requestId);
    if (ex && ex.res === res) ex.clientClosed();
  }

  #credit(ex: ProxyExchange): ChunkCredit {
    const { session } = ex;
    const requestId = ex.info.requestId;
    return (ex.credit = new ChunkCredit(ex.res, (n) => session.send(windowMessage(requestId, n)), () => this.pending.get(requestId) === ex));
  }

  // Other hub components share these messages; ids they do not own are ignored.
  #message(clusterId: string, m: InboundMessage): void {
    if (!m.requestId) return;
    const u = this.upgrades.get(m.requestId);
    if (u && u.clusterId === clusterId) return u.relay.message(m);
    const ex = this.pending.get(m.requestId);
    if (!ex || ex.info.clusterId !== clusterId) return;
    applyAgentMessage(ex, m, () => ex.session.send({ type: 'proxy_cancel', payload: {}, requestId: ex.info.requestId }));
  }

  #binary(clusterId: string, bytes: Uint8Array): void {
    const frame = bytes as Uint8Array<ArrayBuffer>;
    const id = frameRequestId(frame);
    const ex = id ? this.pending.get(id) : undefined;
    if (!ex || ex.info.clusterId !== clusterId) return;
    // After a stream header, binary frames of this request are body chunks (negotiated `binary_chunks`).
    const chunk = applyAgentFrame(ex, frame);
    if (chunk) (ex.credit ?? this.#credit(ex)).add(chunk);
  }

  /** Lost, or replaced by a reconnect: requests written to the old socket will never be answered. */
  #session(clusterId: string): void {
    const current = this.directory.local(clusterId);
    for (const u of [...this.upgrades.values()]) if (u.clusterId === clusterId && u.session !== current) u.relay.lost();
    for (const ex of [...this.pending.values()])
      if (ex.info.clusterId === clusterId && ex.session !== current) ex.fail(503, `cluster "${clusterId}" disconnected from the hub`);
  }

  /** Stop listening and fail everything still in flight (hub shutdown). */
  close(): void {
    for (const off of this.#offs) off();
    for (const ex of [...this.pending.values()]) ex.shutdown();
    this.#opts.sweep.stop();
    for (const u of [...this.upgrades.values()]) u.relay.lost();
  }
}
