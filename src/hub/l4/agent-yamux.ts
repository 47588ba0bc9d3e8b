// The hub's side of yamux negotiation (protocol.md §5.1): to every gateway session whose agent advertised yamux
// (`supports_yamux=true`) and our tagged framing (extension `yamux_tagged`), send `gateway_hello`; on the ack,
// run a yamux server session over that socket (tagged binary messages only, so HTTP binary frames keep flowing).
import type { Logger } from '../../log/logger.ts';
import { encodeEnvelope } from '../../protocol/envelope.ts';
import { YamuxSession, type YamuxStream } from '../../protocol/yamux-session.ts';
import { HELLO_FRAMING_KEY, HELLO_UDP_KEY, LENGTH_PREFIXED_DATAGRAMS, TAGGED_FRAMING, YAMUX_TAG_BYTES } from '../../protocol/yamux-hello.ts';
import type { AgentEndpoint, AgentSession } from '../agent-endpoint.ts';

interface Entry {
  session: AgentSession;
  yamux: YamuxSession | null;
  udpFramed: boolean;
}

export interface AgentYamuxOptions {
  keepAliveMs: number;
  writeTimeoutMs: number;
  maxStreamWindow: number;
}

export type OpenResult = { ok: true; stream: YamuxStream; udpFramed: boolean } | { ok: false; reason: 'agent_offline' | 'no_yamux' | 'yamux_closed'; detail: string };

export class AgentYamux {
  readonly #entries = new Map<string, Entry>();
  readonly #off: (() => void)[] = [];

  constructor(
    private readonly agents: AgentEndpoint,
    private readonly log: Logger,
    private readonly opts: AgentYamuxOptions,
  ) {
    this.#off.push(agents.onSession((id, connected) => (connected ? this.#connected(id) : this.#gone(id))));
    this.#off.push(
      agents.onMessage((id, m) => {
        if (m.type === 'gateway_hello_ack') this.#ack(id, m.payload);
      }),
    );
    agents.claimBinary((id, data) => {
      const y = this.#entries.get(id)?.yamux;
      if (!y || data.length < YAMUX_TAG_BYTES || data[0] !== 0 || data[1] !== 0) return false;
      y.input(data.subarray(YAMUX_TAG_BYTES));
      return true;
    });
    // Sessions that were up before we subscribed.
    for (const id of agents.sessions.keys()) this.#connected(id);
  }

  /** Open a stream to a cluster's agent. */
  open(clusterId: string): OpenResult {
    const e = this.#entries.get(clusterId);
    if (!e || !this.agents.sessions.has(clusterId)) return { ok: false, reason: 'agent_offline', detail: `the agent of cluster ${clusterId} is not connected` };
    if (!e.yamux) return { ok: false, reason: 'no_yamux', detail: `the agent of cluster ${clusterId} has no yamux session (tunnels.enabled=false, an agent without tagged yamux, or negotiation pending)` };
    try {
      return { ok: true, stream: e.yamux.open(), udpFramed: e.udpFramed };
    } catch (err) {
      return { ok: false, reason: 'yamux_closed', detail: (err as Error).message };
    }
  }

  /** Clusters with a live yamux session. */
  active(): string[] {
    return [...this.#entries].filter(([, e]) => e.yamux && !e.yamux.closed).map(([id]) => id);
  }

  stop(): void {
    for (const off of this.#off) off();
    for (const e of this.#entries.values()) e.yamux?.close('hub shutting down');
    this.#entries.clear();
  }

  #connected(id: string): void {
    const s = this.agents.sessions.get(id);
    if (!s) return;
    this.#entries.get(id)?.yamux?.close('agent session replaced', false);
    this.#entries.set(id, { session: s, yamux: null, udpFramed: false });
    if (!s.yamux) return;
    if (!s.extensions.has('yamux_tagged')) {
      this.log.info({ cluster_id: id }, 'agent offers yamux without tagged framing; L4 tunnels to it are not used (its binary messages would all be yamux)');
      return;
    }
    s.sendRaw(
      encodeEnvelope('gateway_hello', {
        use_yamux: true,
        yamux_config: { max_stream_window_size: this.opts.maxStreamWindow, keep_alive_interval_seconds: this.opts.keepAliveMs / 1000, connection_timeout_seconds: this.opts.writeTimeoutMs / 1000 },
        [HELLO_FRAMING_KEY]: TAGGED_FRAMING,
        [HELLO_UDP_KEY]: LENGTH_PREFIXED_DATAGRAMS,
      }),
    );
  }

  #ack(id: string, payload: Record<string, unknown>): void {
    const e = this.#entries.get(id);
    if (!e || e.yamux || payload.use_yamux !== true) return;
    if (payload[HELLO_FRAMING_KEY] !== TAGGED_FRAMING) {
      this.log.warn({ cluster_id: id }, 'gateway_hello_ack without tagged framing; L4 tunnels to this agent are not used');
      return;
    }
    const session = e.session;
    e.udpFramed = payload[HELLO_UDP_KEY] === LENGTH_PREFIXED_DATAGRAMS;
    e.yamux = new YamuxSession(
      'server',
      { keepAliveMs: this.opts.keepAliveMs, writeTimeoutMs: this.opts.writeTimeoutMs, maxStreamWindow: this.opts.maxStreamWindow },
      {
        out: (f) => session.sendBinary(f),
        outCopies: true,
        closed: (reason) => {
          this.log.info({ cluster_id: id, reason }, 'yamux session with agent ended');
          if (this.#entries.get(id) === e) e.yamux = null;
        },
      },
      YAMUX_TAG_BYTES,
    );
    this.log.info({ cluster_id: id, udp_datagrams: e.udpFramed ? 'length_prefixed' : 'raw' }, 'yamux session with agent started');
  }

  #gone(id: string): void {
    this.#entries.get(id)?.yamux?.close('agent disconnected', false);
    this.#entries.delete(id);
  }
}
