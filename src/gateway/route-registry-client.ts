// REST client of the control plane's route registry (protocol.md §1.1, deviation L6: pipeops.tls applies here too).
// Success is exactly HTTP 200; anything else is a RegistryError carrying the status and the start of the body.
// Retries: 3 attempts, delay min(2^n s, cap) (cap 5 s register/unregister, 10 s sync) jittered ±25 %.
import { restBaseUrl } from '../protocol/session-urls.ts';
import { backoffDelay } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';
import { ROUTES_PATH, type RegisterRouteBody, type SyncRoutesBody } from '../protocol/route-registry-messages.ts';
import { type RegistryTls, registryFetch, scrubToken } from './registry-fetch.ts';

export type RegistryOperation = 'register' | 'unregister' | 'sync';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly operation: RegistryOperation,
    /** HTTP status; 0 when the control plane was not reached. */
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(message);
  }
}

export type { RegistryTls } from './registry-fetch.ts';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  /** Cap of the delay before a retry, per operation. */
  capMs: Record<RegistryOperation, number>;
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 1000, capMs: { register: 5000, unregister: 5000, sync: 10_000 }, jitter: 0.25 };

/** Delay before attempt `n + 1` (n = 1, 2, …): min(base·2^(n-1), cap) jittered. Pure but for `random`. */
export function retryDelay(p: RetryPolicy, op: RegistryOperation, n: number, random: () => number = Math.random): number {
  return backoffDelay({ baseMs: p.baseMs, maxMs: p.capMs[op], jitter: { kind: 'symmetric', fraction: p.jitter } }, n - 1, random);
}

/** What the sync engine needs from a registry (the REST client, or a fake in tests). */
export interface RouteRegistry {
  register(body: RegisterRouteBody): Promise<void>;
  unregister(hostname: string): Promise<void>;
  sync(body: SyncRoutesBody): Promise<void>;
}

export interface RegistryClientOptions {
  apiUrl: string;
  token: string;
  tls?: RegistryTls;
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Injectable for tests: how to wait between attempts. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called once per call (not per attempt) with its outcome, for metrics. */
  observe?: (o: { operation: RegistryOperation; ok: boolean; retries: number; seconds: number }) => void;
  userAgent?: string;
}

export class RouteRegistryClient implements RouteRegistry {
  readonly #base: string;
  readonly #o: RegistryClientOptions;
  readonly #retry: RetryPolicy;

  constructor(o: RegistryClientOptions) {
    const u = new URL(restBaseUrl(o.apiUrl));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`pipeops.api_url must be http(s) for the route registry, got ${u.protocol}`);
    this.#base = `${restBaseUrl(o.apiUrl)}${ROUTES_PATH}`;
    this.#o = o;
    this.#retry = o.retry ?? DEFAULT_RETRY;
  }

  register(body: RegisterRouteBody): Promise<void> {
    return this.#call('register', body);
  }

  unregister(hostname: string): Promise<void> {
    return this.#call('unregister', { hostname });
  }

  sync(body: SyncRoutesBody): Promise<void> {
    return this.#call('sync', body);
  }

  async #call(op: RegistryOperation, body: unknown): Promise<void> {
    const t0 = performance.now();
    const payload = JSON.stringify(body);
    let last: RegistryError | null = null;
    let n = 0;
    for (n = 0; n < this.#retry.attempts; n++) {
      if (n > 0) await (this.#o.sleep ?? sleep)(retryDelay(this.#retry, op, n, this.#o.random));
      last = await this.#once(op, payload);
      if (!last) break;
    }
    this.#o.observe?.({ operation: op, ok: !last, retries: Math.min(n, this.#retry.attempts - 1), seconds: (performance.now() - t0) / 1000 });
    if (last) throw last;
  }

  /** One attempt; null on success. */
  async #once(op: RegistryOperation, payload: string): Promise<RegistryError | null> {
    try {
      const res = await registryFetch(`${this.#base}/${op}`, {
        method: 'POST',
        token: this.#o.token,
        body: payload,
        ...(this.#o.tls ? { tls: this.#o.tls } : {}),
        timeoutMs: this.#o.timeoutMs ?? 30_000,
        ...(this.#o.userAgent ? { userAgent: this.#o.userAgent } : {}),
      });
      const text = await res.text().catch(() => '');
      if (res.status === 200) return null;
      const shown = this.#scrub(text.slice(0, 500));
      return new RegistryError(op, res.status, shown, `route registry ${op} failed: HTTP ${res.status}${shown ? `: ${shown}` : ''}`);
    } catch (e) {
      const err = e as Error & { code?: string };
      const why = this.#scrub(`${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`);
      return new RegistryError(op, 0, '', `route registry ${op} failed: control plane at ${new URL(this.#base).origin} unreachable (${why})`);
    }
  }

  #scrub(s: string): string {
    return scrubToken(s, this.#o.token);
  }
}
