// CRUD over HTTP for stored kinds: list/get (typed or Table), create, update (PUT with 409 on stale RV), patch
// (JSON, merge, strategic, apply), delete, deletecollection; the `/status` subresource writes only status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { type ApiError, apiError, badRequest, isApiError, notFound, resourceVersionTooLarge, unsupportedMediaType } from './api-status.ts';
import type { ResourcePath } from './api-path.ts';
import { type FieldFilter, matchesFields, parseFieldSelector, resolveFieldLabels } from './field-selector.ts';
import { readBody, sendError, sendJson } from './http-reply.ts';
import { applyJsonPatch } from './json-patch.ts';
import { validateListOptions } from './list-options.ts';
import { keyOf, pageList } from './list-paging.ts';
import { jsonMergePatch } from './json-merge-patch.ts';
import { cloneObject, isPlainObject, type KubeObject, metaOf } from './kube-object.ts';
import { type LabelSelector, matchesLabels, parseLabelSelector } from './label-selector.ts';
import { wantsMetadataOnly, wantsTable } from './media-type.ts';
import type { ObjectStore } from './object-store.ts';
import { apiVersionOf, type ResourceKind, type ResourceRegistry } from './resource-registry.ts';
import { checkApply, serverSideApply } from './server-side-apply.ts';
import { strategicMergePatch } from './strategic-merge-patch.ts';
import { decodeProtobufObject } from './protobuf-objects.ts';
import { type IncludeObject, parseIncludeObject, toTable } from './table.ts';
import { admitWrite, createsOnUpdate, deleteReturnsObject, validateWrite } from './validation.ts';
import { serveWatch, type WatchSettings } from './watch-stream.ts';

export interface ResourceContext {
  registry: ResourceRegistry;
  store: ObjectStore;
  watch: WatchSettings;
}

const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const BODY_TYPES = ['application/json', 'application/yaml', PROTOBUF];
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Parses a JSON (or YAML) body into an object, or the 400/415 the apiserver would answer. */
async function readObject(req: IncomingMessage, allowed: string[]): Promise<unknown | ApiError> {
  const type = mediaType(req);
  if (type && !allowed.includes(type) && type !== '*/*') return unsupportedMediaType(type, allowed);
  const body = await readBody(req);
  if (!body) return apiError(413, 'RequestEntityTooLarge', 'the request body is larger than 8 MiB');
  if (type === PROTOBUF) {
    const obj = decodeProtobufObject(body);
    return 'error' in obj && typeof obj.error === 'string' ? unsupportedMediaType(`${type}: ${obj.error}`, allowed) : obj;
  }
  const text = body.toString('utf8');
  try {
    return type.includes('yaml') ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    return badRequest(`the request body could not be decoded: ${(e as Error).message}`);
  }
}

export function parseSelectors(kind: ResourceKind, q: URLSearchParams): { labels: LabelSelector; fields: FieldFilter } | ApiError {
  const labels = parseLabelSelector(q.get('labelSelector') ?? '');
  if (isApiError(labels)) return labels;
  const reqs = parseFieldSelector(q.get('fieldSelector') ?? '');
  if (isApiError(reqs)) return reqs;
  const paths = resolveFieldLabels(reqs, kind.kind, kind.fieldLabels ?? []);
  if (isApiError(paths)) return paths;
  return { labels, fields: { reqs, paths } };
}

function partialMetadata(o: KubeObject): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metaOf(o) };
}

function withoutTypeMeta(o: KubeObject): KubeObject {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

export async function handleResource(
  ctx: ResourceContext,
  req: IncomingMessage,
  res: ServerResponse,
  p: ResourcePath,
  query: URLSearchParams,
): Promise<void> {
  const r = await dispatch(ctx, req, res, p, query);
  if (r === undefined) return;
  if (isApiError(r)) sendError(res, r);
  else sendJson(res, r.code, r.body);
}

type Reply = { code: number; body: unknown } | ApiError | undefined;

async function dispatch(
  ctx: ResourceContext,
  req: IncomingMessage,
  res: ServerResponse,
  p: ResourcePath,
  q: URLSearchParams,
): Promise<Reply> {
  const k = p.kind;
  const ns = p.namespace ?? '';
  const dryRun = q.getAll('dryRun').includes('All');
  const method = req.method ?? 'GET';
  const table = wantsTable(req.headers.accept) ? parseIncludeObject(q.get('includeObject')) : undefined;
  const metadataOnly = !table && wantsMetadataOnly(req.headers.accept);

  if (!p.name) {
    if (method === 'GET') {
      const watch = q.get('watch') === 'true' || q.get('watch') === '1';
      const badOptions = validateListOptions(q, watch) ?? resourceVersionParamError(q.get('resourceVersion'));
      if (badOptions) return badOptions;
      const sel = parseSelectors(k, q);
      if (isApiError(sel)) return sel;
      if (watch) {
        serveWatch(ctx.watch, res, { kind: k, namespace: p.namespace, query: q, table, metadataOnly, ...sel });
        return undefined;
      }
      return listReply(ctx, k, p.namespace, q, sel, table, metadataOnly);
    }
    if (method === 'POST') return create(ctx, req, p, dryRun);
    if (method === 'DELETE') {
      const sel = parseSelectors(k, q);
      if (isApiError(sel)) return sel;
      const gone: KubeObject[] = [];
      for (const o of ctx.store.list(k, p.namespace)) {
        if (!matchesLabels(sel.labels, metaOf(o).labels) || !matchesFields(sel.fields.reqs, sel.fields.paths, o)) continue;
        const d = ctx.store.delete(k, metaOf(o).namespace ?? '', metaOf(o).name ?? '', { dryRun });
        if (!isApiError(d)) gone.push(withoutTypeMeta(d));
      }
      const rv = String(ctx.store.resourceVersion);
      return { code: 200, body: { kind: `${k.kind}List`, apiVersion: apiVersionOf(k), metadata: { resourceVersion: rv }, items: gone } };
    }
    return apiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);
  }

  const current = ctx.store.get(k, ns, p.name);
  if (method === 'GET') {
    if (!current) return notFound(k.resource, k.group, p.name);
    if (table) return { code: 200, body: toTable(k, [current], { now: Date.now(), include: table }) };
    if (metadataOnly) return { code: 200, body: partialMetadata(current) };
    return { code: 200, body: current };
  }
  if (method === 'DELETE') {
    const gone = ctx.store.delete(k, ns, p.name, { dryRun });
    if (isApiError(gone)) return gone;
    if (k.resource === 'namespaces' && k.group === '' && !dryRun) {
      for (const o of ctx.store.namespacedKindsWithObjectsIn(p.name, ctx.registry.kinds)) ctx.store.delete(o.kind, p.name, o.name);
      // The sandbox empties and removes a namespace at once; the answer still says what a real one says: Terminating.
      metaOf(gone).deletionTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      gone.status = { ...(isPlainObject(gone.status) ? gone.status : {}), phase: 'Terminating' };
    }
    if (deleteReturnsObject(k, gone)) return { code: 200, body: gone };
    const gm = metaOf(gone);
    return { code: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: gm.name, ...(k.group ? { group: k.group } : {}), kind: k.resource, uid: gm.uid } } };
  }
  if (method === 'PUT' || method === 'PATCH') {
    const body = await readObject(req, method === 'PUT' ? BODY_TYPES : PATCH_TYPES);
    if (isApiError(body)) return body;
    const bodyName = method === 'PUT' && isPlainObject(body) ? metaOf(body).name : undefined;
    if (bodyName && bodyName !== p.name) return badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${p.name})`);
    const type = mediaType(req);
    const applying = method === 'PATCH' && type === 'application/apply-patch+yaml';
    if (applying) {
      const refused = checkApply(k, q, body);
      if (refused) return refused;
    }
    if (!current) {
      if (applying) return createObject(ctx, p, serverSideApply(undefined, body as KubeObject, q.get('fieldManager') ?? ''), dryRun);
      if (method === 'PUT' && createsOnUpdate(k) && isPlainObject(body)) {
        const { resourceVersion: _rv, ...meta } = metaOf(body);
        return createObject(ctx, p, { ...body, metadata: meta }, dryRun);
      }
      return notFound(k.resource, k.group, p.name);
    }
    let next: KubeObject;
    let expectRv: string | undefined;
    if (method === 'PUT') {
      if (!isPlainObject(body)) return badRequest('the request body must be a JSON object');
      next = body;
      expectRv = metaOf(next).resourceVersion;
    } else {
      const patched = applying ? serverSideApply(current, body as KubeObject, q.get('fieldManager') ?? '') : applyPatch(type, current, body);
      if (isApiError(patched)) return patched;
      next = patched;
      const rv = metaOf(next).resourceVersion;
      // A resourceVersion set by the patch is a precondition, like on the real server.
      if (rv !== metaOf(current).resourceVersion) expectRv = rv;
    }
    const m = metaOf(next);
    m.name ??= p.name;
    if (m.name !== p.name) return badRequest(`the name of the object (${m.name}) does not match the name on the URL (${p.name})`);
    if (k.namespaced) {
      if (m.namespace && m.namespace !== ns) {
        return badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = ns;
    }
    next = scopeToSubresource(k, p.subresource, current, next);
    admitWrite(k, next);
    const refused = validateWrite(k, next, current);
    if (refused) return refused;
    const updated = ctx.store.update(k, next, { expectRv, dryRun });
    if (isApiError(updated)) return updated;
    return { code: 200, body: updated };
  }
  return apiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);
}

/**
 * A LIST as a real apiserver answers it: `resourceVersionMatch=Exact` reads the state at that version (410 once it
 * is older than the history kept), a version the server has not reached waits about 3 s and then is 504, and
 * resourceVersion=0 is served whole from the watch cache (`limit` ignored); otherwise pages follow `limit` and
 * `continue` in key order.
 */
async function listReply(
  ctx: ResourceContext,
  k: ResourceKind,
  namespace: string | undefined,
  q: URLSearchParams,
  sel: { labels: LabelSelector; fields: FieldFilter },
  table: IncludeObject | undefined,
  metadataOnly: boolean,
): Promise<Reply> {
  const rvParam = q.get('resourceVersion') ?? '';
  const exact = q.get('resourceVersionMatch') === 'Exact';
  let rv = String(ctx.store.resourceVersion);
  let all: KubeObject[];
  if (rvParam !== '' && rvParam !== '0') {
    const wanted = Number(rvParam);
    if (wanted > ctx.store.resourceVersion && !(await ctx.store.waitForResourceVersion(wanted, TOO_LARGE_WAIT_MS))) {
      return resourceVersionTooLarge(wanted, ctx.store.resourceVersion);
    }
    if (exact) {
      const at = ctx.store.listAt(k, wanted, namespace);
      if (isApiError(at)) return at;
      all = at;
      rv = String(wanted);
    } else all = ctx.store.list(k, namespace);
  } else all = ctx.store.list(k, namespace);
  const items = all.filter((o) => matchesLabels(sel.labels, metaOf(o).labels) && matchesFields(sel.fields.reqs, sel.fields.paths, o));
  const pageQuery = new URLSearchParams(q);
  // Measured on kube-apiserver v1.37: resourceVersion=0 is served whole from the watch cache, and so is a continue
  // that also names a resourceVersion; any other resourceVersion pages normally.
  if (rvParam === '0' || (rvParam !== '' && q.get('continue'))) pageQuery.delete('limit');
  const page = pageList(items, pageQuery, rv, Boolean(q.get('labelSelector') || q.get('fieldSelector')), all.map(keyOf));
  if (isApiError(page)) return page;
  const listMeta = { resourceVersion: rv, ...(page.continue ? { continue: page.continue } : {}), ...(page.remainingItemCount !== undefined ? { remainingItemCount: page.remainingItemCount } : {}) };
  if (table) return { code: 200, body: { ...toTable(k, page.items, { now: Date.now(), include: table, resourceVersion: rv }), metadata: listMeta } };
  if (metadataOnly) return { code: 200, body: { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, items: page.items.map(partialMetadata) } };
  return { code: 200, body: { kind: `${k.kind}List`, apiVersion: apiVersionOf(k), metadata: listMeta, items: page.items.map(withoutTypeMeta) } };
}

/** A resourceVersion parameter that is not an unsigned integer: a real apiserver answers a bare 500 (ParseUint). */
function resourceVersionParamError(rv: string | null): ApiError | undefined {
  if (!rv || /^\d+$/.test(rv)) return undefined;
  return apiError(500, '', `resourceVersion: Invalid value: "${rv}": strconv.ParseUint: parsing "${rv}": invalid syntax`);
}

/** How long a LIST at a future resourceVersion waits for the store before its 504 (the apiserver waits ~3 s). */
const TOO_LARGE_WAIT_MS = 3000;

/** `/status` writes only status; writes to the main resource keep status when the kind has a status subresource. */
function scopeToSubresource(k: ResourceKind, sub: string | undefined, current: KubeObject, next: KubeObject): KubeObject {
  if (sub === 'status') return { ...cloneObject(current), status: next.status, metadata: { ...metaOf(current), resourceVersion: metaOf(next).resourceVersion } };
  if ((k.subresources ?? []).includes('status')) {
    const out = { ...next };
    if (current.status === undefined) delete out.status;
    else out.status = cloneObject(current.status);
    return out;
  }
  return next;
}

function applyPatch(type: string, current: KubeObject, patch: unknown): KubeObject | ApiError {
  let out: unknown;
  switch (type) {
    case 'application/json-patch+json': {
      const r = applyJsonPatch(current, patch);
      if (!r.ok) return apiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${r.message}`);
      out = r.value;
      break;
    }
    case 'application/merge-patch+json':
    case 'application/apply-patch+yaml':
      out = jsonMergePatch(current, patch);
      break;
    case 'application/strategic-merge-patch+json':
      out = strategicMergePatch(current, patch);
      break;
    default:
      return unsupportedMediaType(type, PATCH_TYPES);
  }
  if (!isPlainObject(out)) return badRequest('the patch did not produce an object');
  return out;
}

async function create(ctx: ResourceContext, req: IncomingMessage, p: ResourcePath, dryRun: boolean): Promise<Reply> {
  const body = await readObject(req, BODY_TYPES);
  if (isApiError(body)) return body;
  if (!isPlainObject(body)) return badRequest('the request body must be a JSON object');
  return createObject(ctx, p, body, dryRun);
}

function createObject(ctx: ResourceContext, p: ResourcePath, body: KubeObject, dryRun: boolean): Reply {
  const k = p.kind;
  if (typeof body.kind === 'string' && body.kind !== k.kind) {
    return badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${k.kind})`);
  }
  const m = metaOf(body);
  if (k.namespaced) {
    if (m.namespace && p.namespace && m.namespace !== p.namespace) {
      return badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    m.namespace = p.namespace ?? m.namespace ?? 'default';
    const nsKind = ctx.registry.find('', 'v1', 'namespaces');
    if (nsKind && !ctx.store.get(nsKind, '', m.namespace)) return notFound('namespaces', '', m.namespace);
  }
  if (p.name && !m.name) m.name = p.name;
  // The storage layer's refusal, answered as a bare 500 by a real apiserver.
  if (m.resourceVersion) return apiError(500, '', 'resourceVersion should not be set on objects to be created');
  admitWrite(k, body);
  const refused = validateWrite(k, body);
  if (refused) return refused;
  const created = ctx.store.create(k, body, { dryRun });
  if (isApiError(created)) return created;
  return { code: 201, body: created };
}
