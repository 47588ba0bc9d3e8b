// REST client of the control plane's L4 tunnel registry (protocol.md §1.2; deviation L6: pipeops.tls applies).
// register: 200/201; sync: 200 with `{accepted, rejected}`; deregister: 200/204 (404 counts as gone). Anything else
// is a TunnelRegistryError with the status and the start of the body. Each call is tried up to 3 times, the delay
// min(2^n s, 5 s) jittered ±25 % (upstream had no retry beyond its work queue's requeue).
import { restBaseUrl } from '../protocol/session-urls.ts';
import { backoffDelay } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';
import { type RegistryTls, registryFetch, scrubToken } from './registry-fetch.ts';
import { SyncTunnelsAnswerSchema, TUNNELS_PATH, type TunnelRegistrationBody } from '../protocol/tunnel-registry-messages.ts';

export type TunnelOperation = 'register' | 'sync' | 'deregister';

export class TunnelRegistryError extends Error {
  override name = 'TunnelRegistryError';
  constructor(
    readonly operation: TunnelOperation,
    /** HTTP status; 0 when the control plane was not reached. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What the sync engine needs from a registry (the REST client, or a fake in tests). */
export interface TunnelRegistry {
  register(clusterId: string, body: TunnelRegistrationBody): Promise<void>;
  /** The cluster's complete set; resolves with the entries the registry refused. */
  sync(clusterId: string, tunnels: TunnelRegistrationBody[]): Promise<{ rejected: { tunnel_id: string; reason: string }[] }>;
  deregister(clusterId: string, tunnelId: string): Promise<void>;
}

export interface TunnelRegistryClientOptions {
  apiUrl: string;
  token: string;
  tls?: RegistryTls;
  timeoutMs?: number;
  attempts?: number;
  /** Injectable for tests: how to wait between attempts. */
  sleep?: (ms: number) => Promise<void>;
  /** Called once per call with its outcome, for metrics. */
  observe?: (o: { operation: TunnelOperation; ok: boolean; seconds: number }) => void;
}

/** min(2^n s, 5 s), ±25 %. */
const RETRY = { baseMs: 1000, maxMs: 5000, jitter: { kind: 'symmetric', fraction: 0.25 } } as const;

const OK: Record<TunnelOperation, readonly number[]> = { register: [200, 201], sync: [200], deregister: [200, 204, 404] };

export class TunnelRegistryClient implements TunnelRegistry {
  readonly #base: string;
  readonly #o: TunnelRegistryClientOptions;

  constructor(o: TunnelRegistryClientOptions) {
    const u = new URL(restBaseUrl(o.apiUrl));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`pipeops.api_url must be http(s) for the tunnel registry, got ${u.protocol}`);
    this.#base = restBaseUrl(o.apiUrl);
    this.#o = o;
  }

  async register(clusterId: string, body: TunnelRegistrationBody): Promise<void> {
    await this.#call('register', 'POST', TUNNELS_PATH(clusterId), body);
  }

  async sync(clusterId: string, tunnels: TunnelRegistrationBody[]): Promise<{ rejected: { tunnel_id: string; reason: string }[] }> {
    const text = await this.#call('sync', 'POST', `${TUNNELS_PATH(clusterId)}/sync`, { cluster_uuid: clusterId, tunnels });
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Upstream only counts the answer; an unreadable one rejects nothing we know of.
    }
    const a = SyncTunnelsAnswerSchema.safeParse(parsed);
    return { rejected: a.success ? (a.data.rejected ?? []) : [] };
  }

  async deregister(clusterId: string, tunnelId: string): Promise<void> {
    await this.#call('deregister', 'DELETE', `${TUNNELS_PATH(clusterId)}/${encodeURIComponent(tunnelId)}`);
  }

  async #call(op: TunnelOperation, method: string, path: string, body?: unknown): Promise<string> {
    const t0 = performance.now();
    const attempts = this.#o.attempts ?? 3;
    let last: TunnelRegistryError | null = null;
    for (let n = 0; n < attempts; n++) {
      if (n > 0) await (this.#o.sleep ?? sleep)(backoffDelay(RETRY, n - 1));
      const r = await this.#once(op, method, path, body);
      if (typeof r === 'string') {
        this.#o.observe?.({ operation: op, ok: true, seconds: (performance.now() - t0) / 1000 });
        return r;
      }
      last = r;
      // A refusal (4xx other than 408/429) will not change by asking again.
      if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) break;
    }
    this.#o.observe?.({ operation: op, ok: false, seconds: (performance.now() - t0) / 1000 });
    throw last!;
  }

  async #once(op: TunnelOperation, method: string, path: string, body?: unknown): Promise<string | TunnelRegistryError> {
    try {
      const res = await registryFetch(`${this.#base}${path}`, {
        method,
        token: this.#o.token,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(this.#o.tls ? { tls: this.#o.tls } : {}),
        timeoutMs: this.#o.timeoutMs ?? 30_000,
      });
      const text = await res.text().catch(() => '');
      if (OK[op].includes(res.status)) return text;
      const shown = this.#scrub(text.slice(0, 500));
      return new TunnelRegistryError(op, res.status, `tunnel registry ${op} failed: HTTP ${res.status}${shown ? `: ${shown}` : ''}`);
    } catch (e) {
      const err = e as Error & { code?: string };
      return new TunnelRegistryError(op, 0, `tunnel registry ${op} failed: control plane unreachable (${this.#scrub(`${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`)})`);
    }
  }

  #scrub(s: string): string {
    return scrubToken(s, this.#o.token);
  }
}
