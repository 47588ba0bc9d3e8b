// In-memory object store: one global integer resourceVersion, an event ring for watch resumption, and 410s for
// versions that fell out of it. Server-set fields (uid, creationTimestamp, resourceVersion, generation) live here.
import { randomUUID } from 'node:crypto';
import { type ApiError, alreadyExists, conflict, expired, invalid, notFound } from './api-status.ts';
import { cloneObject, type KubeObject, metaOf } from './kube-object.ts';
import { apiVersionOf, type ResourceKind } from './resource-registry.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  rv: number;
  kind: ResourceKind;
  namespace: string;
  object: KubeObject;
  /** The object before a MODIFIED, so selector watches can turn it into ADDED/DELETED like the apiserver. */
  prev?: KubeObject;
}

export type StoreListener = (e: StoreEvent) => void;

export interface Subscription {
  cancel(): void;
}

/** Storage identity: every served version of a group/resource shares one bucket and one event stream. */
function gr(k: ResourceKind): string {
  return `${k.group}/${k.resource}`;
}

function objectKey(ns: string, name: string): string {
  return `${ns}/${name}`;
}

/** Equal apart from the fields the server owns: a no-op write keeps its resourceVersion. */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const c = { ...o, metadata: { ...metaOf(o) } };
    delete (c.metadata as Record<string, unknown>).resourceVersion;
    delete (c.metadata as Record<string, unknown>).managedFields;
    return JSON.stringify(c);
  };
  return strip(a) === strip(b);
}

export function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export class ObjectStore {
  #rv = 0;
  #compactedRv = 0;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoreEvent[] = [];
  readonly #listeners = new Set<{ kind?: ResourceKind; cb: StoreListener }>();
  readonly historyLimit: number;

  constructor(opts: { historyLimit?: number } = {}) {
    this.historyLimit = opts.historyLimit ?? 1000;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** Watches from a resourceVersion below this get 410 Expired. */
  get oldestResourceVersion(): number {
    return this.#compactedRv;
  }

  #bucket(k: ResourceKind): Map<string, KubeObject> {
    let b = this.#objects.get(gr(k));
    if (!b) {
      b = new Map();
      this.#objects.set(gr(k), b);
    }
    return b;
  }

  get(k: ResourceKind, namespace: string, name: string): KubeObject | undefined {
    const o = this.#bucket(k).get(objectKey(k.namespaced ? namespace : '', name));
    return o ? { ...cloneObject(o), apiVersion: apiVersionOf(k) } : undefined;
  }

  /** Objects of a kind, optionally in one namespace, sorted by namespace then name like the apiserver. */
  list(k: ResourceKind, namespace?: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const o of this.#bucket(k).values()) {
      if (namespace && k.namespaced && metaOf(o).namespace !== namespace) continue;
      out.push({ ...cloneObject(o), apiVersion: apiVersionOf(k) });
    }
    return out.sort((a, b) => {
      const ka = objectKey(metaOf(a).namespace ?? '', metaOf(a).name ?? '');
      const kb = objectKey(metaOf(b).namespace ?? '', metaOf(b).name ?? '');
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  /** `trusted` (the programmatic apply path) keeps a given uid/creationTimestamp, e.g. for a demo with real ages. */
  create(k: ResourceKind, input: KubeObject, opts: { dryRun?: boolean; trusted?: boolean } = {}): KubeObject | ApiError {
    const obj = cloneObject(input);
    const m = metaOf(obj);
    if (!m.name && m.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
      m.name = m.generateName + suffix;
    }
    if (!m.name) return invalid(k.kind, k.group, '', 'metadata.name', 'Required value: name or generateName is required');
    if (!NAME_RE.test(m.name) || m.name.length > 253) {
      return invalid(
        k.kind,
        k.group,
        m.name,
        'metadata.name',
        `Invalid value: "${m.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      );
    }
    if (k.namespaced && !m.namespace) m.namespace = 'default';
    if (!k.namespaced) delete m.namespace;
    const key = objectKey(m.namespace ?? '', m.name);
    if (this.#bucket(k).has(key)) return alreadyExists(k.resource, k.group, m.name);
    obj.apiVersion = apiVersionOf(k);
    obj.kind = k.kind;
    if (!opts.trusted || !m.uid) m.uid = randomUUID();
    if (!opts.trusted || !m.creationTimestamp) m.creationTimestamp = rfc3339Seconds(Date.now());
    if (k.group !== '') m.generation = 1;
    k.defaults?.(obj);
    if (opts.dryRun) return obj;
    m.resourceVersion = String(++this.#rv);
    this.#bucket(k).set(key, obj);
    this.#emit({ type: 'ADDED', rv: this.#rv, kind: k, namespace: m.namespace ?? '', object: cloneObject(obj) });
    return cloneObject(obj);
  }

  /**
   * Replaces an existing object. `expectRv` (from the body's metadata.resourceVersion) must match or it is a 409
   * Conflict, as for PUT. Server-owned fields are carried over; generation bumps when spec changes (non-core groups).
   */
  update(k: ResourceKind, input: KubeObject, opts: { expectRv?: string; dryRun?: boolean } = {}): KubeObject | ApiError {
    const obj = cloneObject(input);
    const m = metaOf(obj);
    const ns = k.namespaced ? (m.namespace ?? 'default') : '';
    const name = m.name ?? '';
    const key = objectKey(ns, name);
    const old = this.#bucket(k).get(key);
    if (!old) return notFound(k.resource, k.group, name);
    const om = metaOf(old);
    if (opts.expectRv && opts.expectRv !== om.resourceVersion) return conflict(k.resource, k.group, name);
    obj.apiVersion = apiVersionOf(k);
    obj.kind = k.kind;
    if (k.namespaced) m.namespace = ns;
    else delete m.namespace;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) m.deletionTimestamp = om.deletionTimestamp;
    if (k.group !== '') {
      const specChanged = JSON.stringify(obj.spec) !== JSON.stringify(old.spec);
      m.generation = (om.generation ?? 1) + (specChanged ? 1 : 0);
    }
    m.resourceVersion = om.resourceVersion;
    if (sameContent(obj, old)) return cloneObject(old);
    if (opts.dryRun) return obj;
    m.resourceVersion = String(++this.#rv);
    this.#bucket(k).set(key, obj);
    this.#emit({ type: 'MODIFIED', rv: this.#rv, kind: k, namespace: ns, object: cloneObject(obj), prev: cloneObject(old) });
    return cloneObject(obj);
  }

  /** Create or replace without version checks: the programmatic `sandbox.apply()` path. */
  upsert(k: ResourceKind, obj: KubeObject): KubeObject | ApiError {
    const m = metaOf(obj);
    if (m.name && this.get(k, m.namespace ?? 'default', m.name)) return this.update(k, obj);
    return this.create(k, obj, { trusted: true });
  }

  delete(k: ResourceKind, namespace: string, name: string, opts: { dryRun?: boolean } = {}): KubeObject | ApiError {
    const ns = k.namespaced ? namespace : '';
    const key = objectKey(ns, name);
    const old = this.#bucket(k).get(key);
    if (!old) return notFound(k.resource, k.group, name);
    if (opts.dryRun) return cloneObject(old);
    this.#bucket(k).delete(key);
    const gone = cloneObject(old);
    metaOf(gone).resourceVersion = String(++this.#rv);
    this.#emit({ type: 'DELETED', rv: this.#rv, kind: k, namespace: ns, object: cloneObject(gone) });
    return gone;
  }

  /** Every namespaced object in `namespace`, across kinds: what namespace deletion cascades to. */
  namespacedKindsWithObjectsIn(namespace: string, kinds: readonly ResourceKind[]): { kind: ResourceKind; name: string }[] {
    const out: { kind: ResourceKind; name: string }[] = [];
    for (const k of kinds) {
      if (!k.namespaced) continue;
      for (const o of this.#bucket(k).values()) {
        if (metaOf(o).namespace === namespace) out.push({ kind: k, name: metaOf(o).name ?? '' });
      }
    }
    return out;
  }

  /**
   * Replays history after `sinceRv` then streams live events of kind `k` to `cb`, synchronously so nothing falls in
   * between. `sinceRv` older than the ring → 410 Expired as an error value.
   */
  watch(k: ResourceKind, sinceRv: number, cb: StoreListener): Subscription | ApiError {
    if (sinceRv < this.#compactedRv) return expired(sinceRv, this.#compactedRv);
    for (const e of this.#history) if (e.rv > sinceRv && gr(e.kind) === gr(k)) cb(e);
    return this.subscribe(cb, k);
  }

  /**
   * The objects of kind `k` as they were at `rv` (a LIST with `resourceVersionMatch=Exact`): the current state with
   * every later event of the kind undone. 410 Expired when `rv` is older than the history kept.
   */
  listAt(k: ResourceKind, rv: number, namespace?: string): KubeObject[] | ApiError {
    if (rv < this.#compactedRv) return expired(rv, this.#compactedRv);
    const state = new Map<string, KubeObject>();
    for (const o of this.list(k)) state.set(objectKey(metaOf(o).namespace ?? '', metaOf(o).name ?? ''), o);
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const e = this.#history[i] as StoreEvent;
      if (e.rv <= rv) break;
      if (gr(e.kind) !== gr(k)) continue;
      const key = objectKey(e.namespace, metaOf(e.object).name ?? '');
      if (e.type === 'ADDED') state.delete(key);
      else state.set(key, { ...cloneObject(e.type === 'MODIFIED' && e.prev ? e.prev : e.object), apiVersion: apiVersionOf(k) });
    }
    return [...state.values()]
      .filter((o) => !namespace || !k.namespaced || metaOf(o).namespace === namespace)
      .sort((a, b) => {
        const ka = objectKey(metaOf(a).namespace ?? '', metaOf(a).name ?? '');
        const kb = objectKey(metaOf(b).namespace ?? '', metaOf(b).name ?? '');
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
  }

  /** Resolves true once the store's resourceVersion reaches `rv`, false after `timeoutMs` (the apiserver's wait). */
  waitForResourceVersion(rv: number, timeoutMs: number): Promise<boolean> {
    if (this.#rv >= rv) return Promise.resolve(true);
    return new Promise((resolve) => {
      const sub = this.subscribe(() => {
        if (this.#rv < rv) return;
        clearTimeout(timer);
        sub.cancel();
        resolve(true);
      });
      const timer = setTimeout(() => {
        sub.cancel();
        resolve(false);
      }, timeoutMs);
    });
  }

  /** Live events only; all kinds when `k` is omitted. */
  subscribe(cb: StoreListener, k?: ResourceKind): Subscription {
    const entry = { kind: k, cb };
    this.#listeners.add(entry);
    return { cancel: () => this.#listeners.delete(entry) };
  }

  /** Forgets all history: every watch from an older resourceVersion now gets 410 Expired. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedRv = this.#rv;
  }

  #emit(e: StoreEvent): void {
    this.#history.push(e);
    while (this.#history.length > this.historyLimit) {
      const dropped = this.#history.shift();
      if (dropped) this.#compactedRv = dropped.rv;
    }
    for (const l of [...this.#listeners]) if (!l.kind || gr(l.kind) === gr(e.kind)) l.cb(e);
  }
}
