// The watch endpoint (`?watch=true`): newline-delimited events, initial ADDEDs for RV unset/0 and
// sendInitialEvents, periodic BOOKMARKs, selector-aware ADDED/DELETED transitions, Table wrapping, and the
// apiserver's 410 behaviour (HTTP 200, one ERROR event, close).
import type { ServerResponse } from 'node:http';
import { type ApiError, statusObject } from './api-status.ts';
import { type FieldFilter, matchesFields } from './field-selector.ts';
import { type KubeObject, metaOf } from './kube-object.ts';
import { type LabelSelector, matchesLabels } from './label-selector.ts';
import type { ObjectStore, StoreEvent, Subscription } from './object-store.ts';
import { apiVersionOf, type ResourceKind } from './resource-registry.ts';
import { type IncludeObject, toTable } from './table.ts';

export interface WatchRequest {
  kind: ResourceKind;
  namespace?: string;
  query: URLSearchParams;
  table?: IncludeObject;
  /** `as=PartialObjectMetadata`: events carry metadata only, like a metadata informer's watch. */
  metadataOnly?: boolean;
  labels: LabelSelector;
  fields: FieldFilter;
}

export interface WatchSettings {
  store: ObjectStore;
  bookmarkIntervalMs: number;
  /** Open watches; `end()` closes one cleanly (dropWatches). */
  open: Set<{ end(): void }>;
}

function matches(w: WatchRequest, o: KubeObject, ns: string): boolean {
  if (w.namespace !== undefined && ns !== w.namespace) return false;
  return matchesLabels(w.labels, metaOf(o).labels) && matchesFields(w.fields.reqs, w.fields.paths, o);
}

/**
 * The apiserver's selector semantics: an object entering the selection is ADDED, leaving it is DELETED (carrying
 * the object as it was while it matched, as the watch cache sends it).
 */
export function visibleEvent(w: WatchRequest, e: StoreEvent): StoreEvent['type'] | undefined {
  const now = matches(w, e.object, e.namespace);
  if (e.type !== 'MODIFIED') return now ? e.type : undefined;
  const before = e.prev ? matches(w, e.prev, e.namespace) : false;
  if (now && before) return 'MODIFIED';
  if (now) return 'ADDED';
  if (before) return 'DELETED';
  return undefined;
}

export function serveWatch(s: WatchSettings, res: ServerResponse, w: WatchRequest): void {
  const q = w.query;
  const rvParam = q.get('resourceVersion') ?? '';
  const initialEvents = q.get('sendInitialEvents') === 'true';
  const bookmarks = q.get('allowWatchBookmarks') === 'true';
  const k = w.kind;

  let closed = false;
  let sub: Subscription | undefined;
  let bookmarkTimer: ReturnType<typeof setInterval> | undefined;
  let timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  const handle = { end: () => finish() };

  const write = (type: string, object: unknown) => {
    if (!closed) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const send = (type: string, o: KubeObject) => {
    const full = { ...o, apiVersion: apiVersionOf(k), kind: k.kind };
    if (w.table) write(type, toTable(k, [full], { now: Date.now(), include: w.table }));
    else if (w.metadataOnly) write(type, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metaOf(full) });
    else write(type, full);
  };
  const bookmark = (initialEnd: boolean) =>
    write('BOOKMARK', {
      kind: k.kind,
      apiVersion: apiVersionOf(k),
      metadata: {
        resourceVersion: String(s.store.resourceVersion),
        ...(initialEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}),
      },
    });
  function finish() {
    if (closed) return;
    closed = true;
    sub?.cancel();
    clearInterval(bookmarkTimer);
    clearTimeout(timeoutTimer);
    s.open.delete(handle);
    if (!res.writableEnded) res.end();
  }

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  res.on('close', finish);

  const onEvent = (e: StoreEvent) => {
    const type = visibleEvent(w, e);
    if (type === 'DELETED' && e.type === 'MODIFIED' && e.prev) send(type, { ...e.prev, metadata: { ...metaOf(e.prev), resourceVersion: metaOf(e.object).resourceVersion } });
    else if (type) send(type, e.object);
  };

  if (initialEvents || rvParam === '' || rvParam === '0') {
    for (const o of s.store.list(k, w.namespace)) if (matches(w, o, metaOf(o).namespace ?? '')) send('ADDED', o);
    // The end of the initial ADDEDs is announced for a watch-list and, when bookmarks are allowed, for every watch
    // that starts with them (resourceVersion unset or 0), as kube-apiserver v1.37 does.
    if (initialEvents || bookmarks) bookmark(true);
    sub = s.store.subscribe(onEvent, k);
  } else {
    const since = Number(rvParam);
    if (!Number.isInteger(since) || since < 0) {
      write('ERROR', statusObject({ code: 400, reason: 'BadRequest', message: `invalid resource version: ${rvParam}` }));
      finish();
      return;
    }
    const r: Subscription | ApiError = s.store.watch(k, since, onEvent);
    if ('code' in r) {
      write('ERROR', statusObject(r));
      finish();
      return;
    }
    sub = r;
  }
  s.open.add(handle);
  if (bookmarks && s.bookmarkIntervalMs > 0) bookmarkTimer = setInterval(() => bookmark(false), s.bookmarkIntervalMs);
  const timeout = Number(q.get('timeoutSeconds') ?? '');
  if (timeout > 0) timeoutTimer = setTimeout(finish, timeout * 1000);
}
