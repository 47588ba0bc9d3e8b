// A small informer on KubeClient: list, then watch from the list's resourceVersion; resume after dropped streams,
// relist on 410 and diff the relist against the cache so deletions missed while away still reach onDelete.
import { backoffDelay, type Jitter } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';
import { type KubeClient, KubeError, type KubeList, type KubeObject, isKubeError } from './client.ts';

/** Relists back off with equal jitter: a delay in [d/2, d]. */
const EQUAL_JITTER: Jitter = { kind: 'equal' };

export type WatchHandlers<T> = {
  onAdd: (obj: T) => void;
  onUpdate: (obj: T, old: T) => void;
  /** `tombstone`: the deletion was not seen as an event but inferred from a relist (the object is the last known state). */
  onDelete: (obj: T, info: { tombstone: boolean }) => void;
  /** After each successful (re)list has been applied to the cache. */
  onSynced?: () => void;
  onError?: (err: Error) => void;
};

export type ListWatchOptions = {
  labelSelector?: string;
  fieldSelector?: string;
  allowBookmarks?: boolean;
  signal: AbortSignal;
  /** Reconnect backoff (exponential, jittered). Defaults: 500 ms, max 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Server-side watch timeout; the client aborts a silent stream 30 s after it. Default: random 5–10 min. */
  timeoutSeconds?: number;
  /** Page size of the list calls. Default 500. */
  pageSize?: number;
};

export type Informer<T> = {
  /** Current objects by `namespace/name`. */
  cache(): ReadonlyMap<string, T>;
  readonly synced: boolean;
  /** The last resourceVersion seen (list, event or bookmark). */
  readonly resourceVersion: string;
  /** Resolves once the signal is aborted and the loop has ended. */
  readonly done: Promise<void>;
};

type WatchEvent = { type?: string; object?: KubeObject & { code?: number; reason?: string; message?: string } };

export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}


class Expired extends Error {}

/** Starts an informer on a collection path such as `/apis/networking.k8s.io/v1/ingresses`. Stops when `opts.signal` aborts. */
export function listWatch<T extends KubeObject>(client: KubeClient, path: string, handlers: WatchHandlers<T>, opts: ListWatchOptions): Informer<T> {
  const cache = new Map<string, T>();
  let synced = false;
  let rv = '';
  const initialMs = opts.backoff?.initialMs ?? 500;
  const maxMs = opts.backoff?.maxMs ?? 30_000;
  const { signal } = opts;

  const safe = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      handlers.onError?.(e instanceof Error ? e : new Error(String(e)));
    }
  };

  const relist = async () => {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let listRv = '';
    do {
      const page: KubeList<T> = await client.list<T>(path, {
        ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
        ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
        limit: opts.pageSize ?? 500,
        ...(cont ? { continue: cont } : {}),
      });
      for (const it of page.items ?? []) fresh.set(objectKey(it), it);
      listRv = page.metadata?.resourceVersion ?? listRv;
      cont = page.metadata?.continue || undefined;
    } while (cont && !signal.aborted);
    if (signal.aborted) return;
    // Diff against what we had: new ⇒ add, changed ⇒ update, missing ⇒ delete (a tombstone: we never saw the event).
    for (const [k, old] of cache) {
      if (!fresh.has(k)) {
        cache.delete(k);
        safe(() => handlers.onDelete(old, { tombstone: true }));
      }
    }
    for (const [k, obj] of fresh) {
      const old = cache.get(k);
      cache.set(k, obj);
      if (!old) safe(() => handlers.onAdd(obj));
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) safe(() => handlers.onUpdate(obj, old));
    }
    rv = listRv;
    synced = true;
    if (handlers.onSynced) safe(handlers.onSynced);
  };

  const apply = (ev: WatchEvent) => {
    const obj = ev.object;
    if (!obj) return;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const o = obj as T;
        const k = objectKey(o);
        const old = cache.get(k);
        cache.set(k, o);
        if (old) {
          if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) safe(() => handlers.onUpdate(o, old));
        } else safe(() => handlers.onAdd(o));
        break;
      }
      case 'DELETED': {
        const o = obj as T;
        const k = objectKey(o);
        cache.delete(k);
        safe(() => handlers.onDelete(o, { tombstone: false }));
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        if (obj.code === 410 || obj.reason === 'Expired' || obj.reason === 'Gone') throw new Expired(obj.message ?? 'expired');
        throw new KubeError(obj.code ?? 500, obj.reason ?? 'WatchError', `watch ${path} failed: ${obj.message ?? 'ERROR event'}`, obj.code ?? 500);
      }
      default:
        return;
    }
    const nrv = obj.metadata?.resourceVersion;
    if (nrv) rv = nrv;
  };

  /** One watch stream. Returns the number of events seen; throws Expired on 410. */
  const watchOnce = async (): Promise<number> => {
    const timeoutSeconds = opts.timeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    const q = new URLSearchParams({ watch: '1', resourceVersion: rv, timeoutSeconds: String(timeoutSeconds) });
    if (opts.allowBookmarks ?? true) q.set('allowWatchBookmarks', 'true');
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const url = `${path}${path.includes('?') ? '&' : '?'}${q}`;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let seen = 0;
    try {
      const res = await client.request(url, {
        headers: { accept: 'application/json' },
        signal: stop.signal,
        timeoutMs: (timeoutSeconds + 30) * 1000,
      });
      if (res.status === 410) {
        await res.body?.cancel();
        throw new Expired('watch answered 410 Gone');
      }
      if (!res.ok) throw await client.errorFrom(res, 'GET', url);
      if (!res.body) return 0;
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') {
            let ev: WatchEvent;
            try {
              ev = JSON.parse(line) as WatchEvent;
            } catch {
              throw new KubeError(200, 'BadWatchEvent', `watch ${path}: undecodable event line (${line.slice(0, 80)})`);
            }
            apply(ev);
            seen++;
          }
          nl = buf.indexOf('\n');
        }
      }
      const tail = buf.trim();
      if (tail !== '') {
        apply(JSON.parse(tail) as WatchEvent);
        seen++;
      }
      return seen;
    } catch (e) {
      if (e instanceof Expired || isKubeError(e)) throw e;
      if (signal.aborted) return seen;
      // A stream cut mid-body: resume from the last RV (the events applied so far are in the cache).
      if (seen > 0) return seen;
      throw e;
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop.abort();
    }
  };

  const run = async () => {
    let needList = true;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await relist();
          needList = false;
          attempt = 0;
        }
        if (signal.aborted) break;
        const started = Date.now();
        const seen = await watchOnce();
        // A stream that closed at once with nothing in it counts as a failure, so a misbehaving server is not hammered.
        if (seen > 0 || Date.now() - started > 5_000) attempt = 0;
        else await sleep(backoffDelay({ baseMs: initialMs, maxMs, jitter: EQUAL_JITTER }, attempt++), signal);
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof Expired) {
          needList = true;
          continue;
        }
        if (isKubeError(e, 410)) {
          needList = true;
          continue;
        }
        handlers.onError?.(e instanceof Error ? e : new Error(String(e)));
        await sleep(backoffDelay({ baseMs: initialMs, maxMs, jitter: EQUAL_JITTER }, attempt++), signal);
      }
    }
  };

  const done = run();
  return {
    cache: () => cache,
    get synced() {
      return synced;
    },
    get resourceVersion() {
      return rv;
    },
    done,
  };
}
