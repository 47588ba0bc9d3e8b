// Sandbox fidelity: the same corpus of requests (reads, paged and selected lists, metadata-only lists, watches with
// each resourceVersion mode, writes real validation refuses, error cases, discovery, tables, Leases) sent to the
// sandbox and to a real kube-apiserver holding the same objects; answers are compared after normalising what is
// volatile (uids, resourceVersions, timestamps, managedFields, continue tokens, generated name suffixes, Age cells,
// message wording). The test prints the ratio of identical answers per class and every difference;
// docs/sandbox-fidelity.md lists the accepted ones. It fails when the ratio drops below the recorded floor.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { waitFor } from '../support/wait.ts';
import { type RealCluster, realTierMissing, startRealCluster } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);
/** The identical-answer ratio this tree reaches (docs/sandbox-fidelity.md); a regression fails. */
const FLOOR = 0.95;

type Cls = 'read' | 'list' | 'metadata' | 'table' | 'watch' | 'write' | 'error' | 'discovery' | 'access' | 'lease';

/** One server under comparison. */
interface Target {
  name: 'real' | 'sandbox';
  base: string;
  token: string;
  ca: string;
  /** Forget the history up to now: etcd compaction on the real server, the event ring on the sandbox. */
  compact(): Promise<void>;
  /** Values a probe remembers for a later one (a resourceVersion from before a change). */
  memo: Record<string, string>;
}

interface Request {
  method?: string;
  path: string;
  body?: unknown;
  /** A body sent verbatim (malformed JSON). */
  rawBody?: string;
  headers?: Record<string, string>;
  /** Send no Authorization header (anonymous). */
  anonymous?: boolean;
  token?: string;
}

interface Probe extends Request {
  cls: Cls;
  name: string;
  /** Computed per server right before sending (paths or bodies that need a live resourceVersion). */
  prepare?: (t: Target) => Promise<Partial<Request> | undefined>;
  /** Watches: read this many events (bookmarks included) then stop. */
  watchEvents?: number;
  /** Sent once a watch's response has started: the change the watch must report. */
  during?: Request;
  /** Follow `continue` tokens until the list ends; compare every page. */
  pages?: boolean;
  /** APIResourceList / aggregated discovery: compare this resource's entry. */
  resource?: string;
}

const NS = 'fid';
const cm = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: NS, labels: { idx: String(i), tier: i % 2 ? 'odd' : 'even' } }, data: { k: `v${i}` } });
const META_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const META_ONE = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json';
const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
const MERGE = { 'content-type': 'application/merge-patch+json' };
const CMS = `/api/v1/namespaces/${NS}/configmaps`;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const INGRESSES = `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`;
const ingress = (name: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name },
  spec: { rules: [{ host: `${name}.example`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }] },
});
const lease = (name: string, spec: Record<string, unknown>, rv?: string) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace: NS, ...(rv ? { resourceVersion: rv } : {}) },
  spec,
});

type Json = Record<string, unknown>;

async function call(t: Target, r: Request): Promise<{ status: number; json: Json; contentType: string }> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...(r.anonymous ? {} : { authorization: `Bearer ${r.token ?? t.token}` }),
    ...(r.body !== undefined || r.rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
    ...r.headers,
  };
  const body = r.rawBody ?? (r.body !== undefined ? JSON.stringify(r.body) : undefined);
  const res = await fetch(`${t.base}${r.path}`, { method: r.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}), tls: { ca: t.ca } } as RequestInit);
  const text = await res.text();
  if (process.env.FIDELITY_DUMP && t.name === 'real') console.log(`DUMP ${r.method ?? 'GET'} ${r.path} -> ${res.status} ${text.slice(0, 700)}`);
  let json: Json = { text };
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, json, contentType: res.headers.get('content-type') ?? '' };
}

const rvOf = async (t: Target, path: string) => String(((await call(t, { path })).json.metadata as Json).resourceVersion);

/** The API groups the sandbox serves (it serves a subset; docs/sandbox-fidelity.md): compared by preferred version. */
const GROUPS = ['apps', 'authorization.k8s.io', 'coordination.k8s.io', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'discovery.k8s.io'];

function resourceEntry(r: Json | undefined): Json | null {
  if (!r) return null;
  const verbs = ((r.verbs as string[] | undefined) ?? []).slice().sort();
  return { name: r.resource ?? r.name, kind: (r.responseKind as Json | undefined)?.kind ?? r.kind, namespaced: r.namespaced ?? r.scope, verbs, shortNames: r.shortNames ?? null };
}

/** The comparable essence of an answer: status code, kind, Status reason, object names/data, list paging shape. */
function normalise(code: number, body: unknown, p: Probe | null): Json {
  if (!body || typeof body !== 'object') return { code, body };
  const b = body as Json;
  if (typeof b.text === 'string') return { code, text: b.text.slice(0, 40) };
  const md = (b.metadata ?? {}) as Json;
  const out: Json = { code, kind: b.kind ?? null };
  if (b.kind === 'Status') {
    const d = (b.details ?? {}) as Json;
    return { ...out, status: b.status, reason: b.reason ?? null, statusCode: b.code, details: d.name || d.kind ? `${d.kind ?? ''}/${d.name ?? ''}` : null };
  }
  if (b.kind === 'APIGroupDiscoveryList') {
    const g = (b.items as Json[]).find((i) => (i.metadata as Json).name === 'coordination.k8s.io');
    const v1 = ((g?.versions as Json[] | undefined) ?? []).find((v) => v.version === 'v1');
    return { ...out, apiVersion: b.apiVersion, entry: resourceEntry(((v1?.resources as Json[] | undefined) ?? []).find((r) => r.resource === p?.resource)) };
  }
  if (Array.isArray(b.items)) {
    out.items = (b.items as Json[]).map((i) => `${((i.metadata ?? {}) as Json).name}${i.kind ? `:${i.kind}` : ''}${i.data ? `:${Object.entries(i.data as Json).map(([k, v]) => `${k}=${v}`).sort().join(',')}` : ''}`).sort();
    out.continue = Boolean(md.continue);
    out.remainingItemCount = md.remainingItemCount ?? null;
    return out;
  }
  if (Array.isArray(b.rows)) {
    const cols = (b.columnDefinitions as Json[]).map((c) => `${c.name}:${c.type}`);
    const age = cols.findIndex((c) => c.startsWith('Age:'));
    const cells = (b.rows as Json[]).map((r) => (r.cells as unknown[]).filter((_, i) => i !== age));
    return { ...out, columns: cols, cells };
  }
  if (b.kind === 'APIResourceList') return { ...out, groupVersion: b.groupVersion, entry: resourceEntry((b.resources as Json[]).find((r) => r.name === p?.resource)) };
  if (b.kind === 'APIGroupList') {
    const groups = (b.groups as Json[]).filter((g) => GROUPS.includes(g.name as string)).map((g) => `${g.name}:${(g.preferredVersion as Json).groupVersion}`);
    return { ...out, groups: groups.sort() };
  }
  if (b.kind === 'APIGroup' || b.kind === 'APIVersions') return { ...out, name: b.name ?? null, versions: Array.isArray(b.versions) ? b.versions.length > 0 : null };
  if (b.kind === 'SelfSubjectAccessReview') return { ...out, allowed: (b.status as Json | undefined)?.allowed ?? null };
  if (b.gitVersion) return { code, version: 'present' };
  let name = (md.name as string | undefined) ?? null;
  if (name && md.generateName && name.startsWith(md.generateName as string)) name = `${md.generateName}*`;
  const sorted = (v: unknown) => (v && typeof v === 'object' ? Object.fromEntries(Object.entries(v as Json).sort(([x], [y]) => (x < y ? -1 : 1))) : null);
  return {
    ...out,
    name,
    labels: sorted(md.labels),
    data: sorted(b.data),
    ...(b.kind === 'Namespace' ? { phase: (b.status as Json | undefined)?.phase ?? null } : {}),
    ...(b.kind === 'Lease' ? { spec: sorted(Object.fromEntries(Object.entries(b.spec as Json).filter(([k]) => !k.endsWith('Time')))) } : {}),
  };
}

function normaliseEvent(e: Json, p: Probe): Json {
  if (e.type === 'BOOKMARK') return { type: 'BOOKMARK', initialEventsEnd: Boolean((((e.object as Json).metadata as Json).annotations as Json | undefined)?.['k8s.io/initial-events-end']) };
  return { type: e.type, object: normalise(200, e.object, p) };
}

async function send(t: Target, probe: Probe): Promise<Json> {
  const p: Probe = { ...probe, ...(await probe.prepare?.(t)) };
  if (p.pages) {
    const pages: Json[] = [];
    let token = '';
    for (let i = 0; i < 10; i++) {
      const r = await call(t, { ...p, path: `${p.path}${token ? `&continue=${encodeURIComponent(token)}` : ''}` });
      pages.push(normalise(r.status, r.json, p));
      token = String(((r.json.metadata ?? {}) as Json).continue ?? '');
      if (!token) break;
    }
    return { pages };
  }
  if (!p.path.includes('watch=true')) {
    const r = await call(t, p);
    return { ...normalise(r.status, r.json, p), ...(p.cls === 'discovery' ? { contentType: r.contentType.replace(/\s/g, '').replace(/;charset=utf-8$/, '') } : {}) };
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 4_000);
  try {
    const headers = { accept: 'application/json', authorization: `Bearer ${t.token}`, ...p.headers };
    const r = await fetch(`${t.base}${p.path}`, { headers, signal: ac.signal, tls: { ca: t.ca } } as RequestInit);
    if (!r.ok || !r.body) {
      const text = await r.text();
      if (process.env.FIDELITY_DUMP && t.name === 'real') console.log(`DUMP watch ${p.path} -> ${r.status} ${text.slice(0, 700)}`);
      let json: Json = { text };
      try {
        json = JSON.parse(text) as Json;
      } catch {
        // not JSON
      }
      return normalise(r.status, json, p);
    }
    if (p.during) await call(t, p.during);
    const events: Json[] = [];
    let buf = '';
    const dec = new TextDecoder();
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) events.push(JSON.parse(line) as Json);
        }
        if (events.length >= (p.watchEvents ?? 1)) break;
      }
    } catch {
      // aborted by the timer: what arrived is the answer
    }
    ac.abort();
    return { code: r.status, events: events.slice(0, p.watchEvents ?? 1).map((e) => normaliseEvent(e, p)) };
  } finally {
    clearTimeout(timer);
  }
}

const CORPUS: Probe[] = [
  // ---- reads ----
  { cls: 'read', name: 'get configmap', path: `${CMS}/cm-1` },
  { cls: 'read', name: 'get missing configmap', path: `${CMS}/nope` },
  { cls: 'read', name: 'get missing namespace', path: '/api/v1/namespaces/nope' },
  { cls: 'read', name: 'get namespace', path: `/api/v1/namespaces/${NS}` },
  // ---- lists: paging, selectors, resourceVersion semantics ----
  { cls: 'list', name: 'list configmaps', path: CMS },
  { cls: 'list', name: 'list limit=2', path: `${CMS}?limit=2` },
  { cls: 'list', name: 'every page of limit=2', path: `${CMS}?limit=2`, pages: true },
  { cls: 'list', name: 'every page of limit=1 with a labelSelector (no remainingItemCount)', path: `${CMS}?limit=1&labelSelector=tier%3Dodd`, pages: true },
  { cls: 'list', name: 'list bad continue', path: `${CMS}?limit=2&continue=garbage` },
  { cls: 'list', name: 'list continue with resourceVersion', path: `${CMS}?limit=2`, prepare: async (t) => ({ path: `${CMS}?limit=2&resourceVersion=0&continue=${encodeURIComponent(String(((await call(t, { path: `${CMS}?limit=2` })).json.metadata as Json).continue))}` }) },
  { cls: 'list', name: 'list labelSelector', path: `${CMS}?labelSelector=tier%3Dodd` },
  { cls: 'list', name: 'list labelSelector set', path: `${CMS}?labelSelector=idx%20in%20(1,2)` },
  { cls: 'list', name: 'list labelSelector exists, all namespaces', path: '/api/v1/configmaps?labelSelector=tier' },
  { cls: 'list', name: 'list bad labelSelector', path: `${CMS}?labelSelector=%3D%3D%3D` },
  { cls: 'list', name: 'list fieldSelector name', path: `${CMS}?fieldSelector=metadata.name%3Dcm-2` },
  { cls: 'list', name: 'list bad fieldSelector', path: `${CMS}?fieldSelector=data.k%3Dv1` },
  { cls: 'list', name: 'list resourceVersion=0 limit=2 (served whole from the cache)', path: `${CMS}?resourceVersion=0&limit=2` },
  { cls: 'list', name: 'list resourceVersion=<current> limit=2', path: CMS, prepare: async (t) => ({ path: `${CMS}?resourceVersion=${await rvOf(t, CMS)}&limit=2` }) },
  { cls: 'list', name: 'list resourceVersion=0', path: `${CMS}?resourceVersion=0&labelSelector=tier%3Deven` },
  { cls: 'list', name: 'list resourceVersionMatch without resourceVersion', path: `${CMS}?resourceVersionMatch=NotOlderThan` },
  { cls: 'list', name: 'list resourceVersionMatch=Exact with resourceVersion=0', path: `${CMS}?resourceVersionMatch=Exact&resourceVersion=0` },
  { cls: 'list', name: 'list resourceVersionMatch=Bogus', path: `${CMS}?resourceVersionMatch=Bogus&resourceVersion=1` },
  { cls: 'list', name: 'list sendInitialEvents', path: `${CMS}?sendInitialEvents=true` },
  {
    cls: 'list',
    name: 'list resourceVersionMatch=Exact before a change shows the old data',
    path: CMS,
    prepare: async (t) => {
      const rv = await rvOf(t, CMS);
      await call(t, { method: 'PATCH', path: `${CMS}/cm-1`, body: { data: { k: 'changed' } }, headers: MERGE });
      t.memo.beforeChange = rv;
      return { path: `${CMS}?resourceVersionMatch=Exact&resourceVersion=${rv}&labelSelector=idx%3D1` };
    },
  },
  { cls: 'list', name: 'list resourceVersionMatch=NotOlderThan', path: CMS, prepare: async (t) => ({ path: `${CMS}?resourceVersionMatch=NotOlderThan&resourceVersion=${t.memo.beforeChange}&labelSelector=idx%3D1` }) },
  { cls: 'list', name: 'list a future resourceVersion', path: `${CMS}?resourceVersion=99999999&labelSelector=idx%3D1` },
  // ---- metadata-only ----
  { cls: 'metadata', name: 'metadata-only list', path: CMS, headers: { accept: META_LIST } },
  { cls: 'metadata', name: 'metadata-only list, paged', path: `${CMS}?limit=3`, headers: { accept: META_LIST } },
  { cls: 'metadata', name: 'metadata-only get', path: `${CMS}/cm-2`, headers: { accept: META_ONE } },
  { cls: 'metadata', name: 'metadata-only watch', path: `${CMS}?watch=true&resourceVersion=0&labelSelector=idx%3D2`, headers: { accept: META_ONE }, watchEvents: 1 },
  // ---- tables ----
  { cls: 'table', name: 'table list', path: CMS, headers: { accept: TABLE } },
  { cls: 'table', name: 'table get', path: `${CMS}/cm-2`, headers: { accept: TABLE } },
  { cls: 'table', name: 'table get namespace', path: `/api/v1/namespaces/${NS}`, headers: { accept: TABLE } },
  { cls: 'table', name: 'table watch', path: `${CMS}?watch=true&resourceVersion=0&labelSelector=idx%3D2`, headers: { accept: TABLE }, watchEvents: 1 },
  // ---- watches: every resourceVersion mode ----
  { cls: 'watch', name: 'watch rv=0', path: `${CMS}?watch=true&resourceVersion=0`, watchEvents: 5 },
  { cls: 'watch', name: 'watch rv="" with bookmarks', path: `${CMS}?watch=true&allowWatchBookmarks=true&labelSelector=idx%3D1`, watchEvents: 2 },
  { cls: 'watch', name: 'watch rv=0 with bookmarks', path: `${CMS}?watch=true&resourceVersion=0&allowWatchBookmarks=true&labelSelector=idx%3D1`, watchEvents: 2 },
  { cls: 'watch', name: 'watch one object by name', path: `${CMS}?watch=true&fieldSelector=metadata.name%3Dcm-4`, watchEvents: 1 },
  { cls: 'watch', name: 'watch-list (sendInitialEvents + NotOlderThan)', path: `${CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=tier%3Dodd`, watchEvents: 4 },
  { cls: 'watch', name: 'watch sendInitialEvents without rvMatch', path: `${CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true` },
  { cls: 'watch', name: 'watch resourceVersionMatch without sendInitialEvents', path: `${CMS}?watch=true&resourceVersionMatch=NotOlderThan&resourceVersion=0` },
  { cls: 'watch', name: 'watch rv=1 replays history', path: `${CMS}?watch=true&resourceVersion=1`, watchEvents: 3 },
  { cls: 'watch', name: 'watch rv=<list rv> sees a later patch', path: CMS, watchEvents: 1, prepare: async (t) => ({ path: `${CMS}?watch=true&resourceVersion=${await rvOf(t, CMS)}` }), during: { method: 'PATCH', path: `${CMS}/cm-3`, body: { data: { w: '1' } }, headers: MERGE } },
  { cls: 'watch', name: 'watch with a selector: leaving it is DELETED', path: CMS, watchEvents: 1, prepare: async (t) => ({ path: `${CMS}?watch=true&labelSelector=tier%3Deven&resourceVersion=${await rvOf(t, CMS)}` }), during: { method: 'PATCH', path: `${CMS}/cm-2`, body: { metadata: { labels: { tier: 'odd' } } }, headers: MERGE } },
  { cls: 'watch', name: 'watch rv=garbage', path: `${CMS}?watch=true&resourceVersion=abc` },
  // ---- writes (accepted and refused) ----
  { cls: 'write', name: 'create valid configmap', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made' }, data: { a: 'b' } } },
  { cls: 'write', name: 'create with generateName', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } } },
  { cls: 'write', name: 'create dry-run', method: 'POST', path: `${CMS}?dryRun=All`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' } } },
  { cls: 'write', name: 'get after dry-run create', path: `${CMS}/dry` },
  { cls: 'write', name: 'create duplicate', method: 'POST', path: CMS, body: cm(1) },
  { cls: 'write', name: 'create invalid name', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' } } },
  { cls: 'write', name: 'create invalid label value', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'badlabel', labels: { a: 'has space' } } } },
  { cls: 'write', name: 'create invalid configmap key', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'badkey' }, data: { 'bad key!': 'x' } } },
  { cls: 'write', name: 'create with resourceVersion set', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'withrv', resourceVersion: '5' } } },
  { cls: 'write', name: 'create kind mismatch', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' } } },
  { cls: 'write', name: 'create namespace mismatch', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'n', namespace: 'other' } } },
  { cls: 'write', name: 'create malformed JSON', method: 'POST', path: CMS, rawBody: '{"apiVersion": "v1", "kind": ' },
  { cls: 'write', name: 'create in missing namespace', method: 'POST', path: '/api/v1/namespaces/nope/configmaps', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } },
  { cls: 'write', name: 'create pod without containers', method: 'POST', path: `/api/v1/namespaces/${NS}/pods`, body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } } },
  { cls: 'write', name: 'create pod container without image', method: 'POST', path: `/api/v1/namespaces/${NS}/pods`, body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2' }, spec: { containers: [{ name: 'c' }] } } },
  { cls: 'write', name: 'create service without ports', method: 'POST', path: `/api/v1/namespaces/${NS}/services`, body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { selector: { a: 'b' } } } },
  { cls: 'write', name: 'create ingress without pathType', method: 'POST', path: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`, body: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' }, spec: { rules: [{ host: 'a.b', http: { paths: [{ path: '/', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } } },
  { cls: 'write', name: 'put name mismatch', method: 'PUT', path: `${CMS}/cm-2`, body: { ...cm(3) } },
  { cls: 'write', name: 'put stale resourceVersion', method: 'PUT', path: `${CMS}/cm-3`, body: { ...cm(3), metadata: { ...cm(3).metadata, resourceVersion: '2' } } },
  { cls: 'write', name: 'put missing object', method: 'PUT', path: `${CMS}/ghost`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ghost' } } },
  {
    cls: 'write',
    name: 'update an immutable configmap',
    method: 'PATCH',
    path: `${CMS}/frozen`,
    body: { data: { a: 'changed' } },
    headers: MERGE,
    prepare: async (t) => {
      await call(t, { method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'frozen' }, data: { a: 'b' }, immutable: true } });
      return undefined;
    },
  },
  { cls: 'write', name: 'merge patch', method: 'PATCH', path: `${CMS}/cm-4`, body: { data: { extra: 'x' } }, headers: MERGE },
  { cls: 'write', name: 'json patch replace of a missing key', method: 'PATCH', path: `${CMS}/cm-4`, body: [{ op: 'replace', path: '/data/none', value: 'x' }], headers: { 'content-type': 'application/json-patch+json' } },
  { cls: 'write', name: 'json patch failing test op', method: 'PATCH', path: `${CMS}/cm-4`, body: [{ op: 'test', path: '/data/k', value: 'nope' }], headers: { 'content-type': 'application/json-patch+json' } },
  { cls: 'write', name: 'patch with an unsupported content type', method: 'PATCH', path: `${CMS}/cm-4`, rawBody: 'x', headers: { 'content-type': 'text/plain' } },
  { cls: 'write', name: 'patch missing object', method: 'PATCH', path: `${CMS}/ghost`, body: { data: { a: 'b' } }, headers: MERGE },
  { cls: 'write', name: 'apply without fieldManager', method: 'PATCH', path: `${CMS}/cm-5`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-5' } }, headers: { 'content-type': 'application/apply-patch+yaml' } },
  { cls: 'write', name: 'apply with fieldManager', method: 'PATCH', path: `${CMS}/applied?fieldManager=fid`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: 'b' } }, headers: { 'content-type': 'application/apply-patch+yaml' } },
  { cls: 'write', name: 'secret stringData', method: 'POST', path: `/api/v1/namespaces/${NS}/secrets`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, stringData: { a: 'b' } } },
  { cls: 'write', name: 'delete configmap', method: 'DELETE', path: `${CMS}/cm-6` },
  {
    cls: 'write',
    name: 'delete a Service (answers the object)',
    method: 'DELETE',
    path: `/api/v1/namespaces/${NS}/services/gone`,
    prepare: async (t) => (await call(t, { method: 'POST', path: `/api/v1/namespaces/${NS}/services`, body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'gone' }, spec: { ports: [{ port: 80 }] } } }), undefined),
  },
  {
    cls: 'write',
    name: 'delete a Deployment (answers a Status)',
    method: 'DELETE',
    path: `/apis/apps/v1/namespaces/${NS}/deployments/gone`,
    prepare: async (t) => (
      await call(t, {
        method: 'POST',
        path: `/apis/apps/v1/namespaces/${NS}/deployments`,
        body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'gone' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } },
      }),
      undefined
    ),
  },
  { cls: 'write', name: 'put creates a missing Endpoints', method: 'PUT', path: `/api/v1/namespaces/${NS}/endpoints/ep`, body: { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ep' } } },
  // ---- errors ----
  { cls: 'error', name: 'delete missing', method: 'DELETE', path: `${CMS}/nope` },
  { cls: 'error', name: 'POST to a named object', method: 'POST', path: `${CMS}/cm-1`, body: cm(1) },
  { cls: 'error', name: 'unknown resource', path: `/api/v1/namespaces/${NS}/widgets` },
  { cls: 'error', name: 'unknown group', path: '/apis/example.com/v1/things' },
  { cls: 'error', name: 'pod log of missing pod', path: `/api/v1/namespaces/${NS}/pods/nope/log` },
  { cls: 'error', name: 'namespaced list of cluster resource', path: `/api/v1/namespaces/${NS}/nodes` },
  { cls: 'error', name: 'invalid token', path: CMS, token: 'not-a-token' },
  { cls: 'error', name: 'anonymous version', path: '/version', anonymous: true },
  { cls: 'error', name: 'anonymous list', path: CMS, anonymous: true },
  // ---- discovery ----
  { cls: 'discovery', name: 'discovery /api', path: '/api' },
  { cls: 'discovery', name: 'discovery /apis', path: '/apis' },
  { cls: 'discovery', name: 'discovery /apis/apps', path: '/apis/apps' },
  { cls: 'discovery', name: 'discovery /api/v1 configmaps', path: '/api/v1', resource: 'configmaps' },
  { cls: 'discovery', name: 'discovery coordination.k8s.io/v1 leases', path: '/apis/coordination.k8s.io/v1', resource: 'leases' },
  { cls: 'discovery', name: 'aggregated discovery /apis leases', path: '/apis', headers: { accept: AGGREGATED }, resource: 'leases' },
  { cls: 'discovery', name: 'version', path: '/version' },
  // ---- access reviews ----
  { cls: 'access', name: 'ssar empty', method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} } },
  { cls: 'access', name: 'ssar list pods', method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods' } } } },
  // ---- Leases: what leader election relies on ----
  { cls: 'lease', name: 'create lease', method: 'POST', path: LEASES, body: lease('leader', { holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 }) },
  { cls: 'lease', name: 'create lease again', method: 'POST', path: LEASES, body: lease('leader', { holderIdentity: 'b', leaseDurationSeconds: 15 }) },
  { cls: 'lease', name: 'update lease with a stale resourceVersion', method: 'PUT', path: `${LEASES}/leader`, body: lease('leader', { holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 }, '1') },
  { cls: 'lease', name: 'update lease with the current resourceVersion', method: 'PUT', path: `${LEASES}/leader`, prepare: async (t) => ({ body: lease('leader', { holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 }, await rvOf(t, `${LEASES}/leader`)) }) },
  { cls: 'lease', name: 'release lease (holder cleared)', method: 'PUT', path: `${LEASES}/leader`, prepare: async (t) => ({ body: lease('leader', { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 1 }, await rvOf(t, `${LEASES}/leader`)) }) },
  { cls: 'lease', name: 'get lease', path: `${LEASES}/leader` },
  { cls: 'lease', name: 'create lease with leaseDurationSeconds 0', method: 'POST', path: LEASES, body: lease('zero', { holderIdentity: 'a', leaseDurationSeconds: 0 }) },
  { cls: 'lease', name: 'update missing lease', method: 'PUT', path: `${LEASES}/ghost`, body: lease('ghost', { holderIdentity: 'a', leaseDurationSeconds: 15 }) },
  { cls: 'lease', name: 'table of leases', path: LEASES, headers: { accept: TABLE } },
  { cls: 'lease', name: 'delete lease', method: 'DELETE', path: `${LEASES}/leader` },
  // ---- compaction: Ingresses bypass the real watch cache (--watch-cache-sizes), so etcd's 410 is reachable ----
  {
    cls: 'watch',
    name: 'watch from a compacted resourceVersion (410 ERROR event)',
    path: INGRESSES,
    watchEvents: 1,
    prepare: async (t) => {
      await call(t, { method: 'POST', path: INGRESSES, body: ingress('i1') });
      t.memo.beforeCompaction = await rvOf(t, INGRESSES);
      await call(t, { method: 'POST', path: INGRESSES, body: ingress('i2') });
      // etcd keeps the revision it compacts at: one more write, so the revision after the remembered one is gone.
      await call(t, { method: 'POST', path: INGRESSES, body: ingress('i3') });
      await t.compact();
      return { path: `${INGRESSES}?watch=true&resourceVersion=${t.memo.beforeCompaction}` };
    },
  },
  { cls: 'list', name: 'list Exact at a compacted resourceVersion (410)', path: INGRESSES, prepare: async (t) => ({ path: `${INGRESSES}?resourceVersionMatch=Exact&resourceVersion=${t.memo.beforeCompaction}` }) },
  // ---- namespace lifecycle (last: it deletes the corpus namespace) ----
  { cls: 'write', name: 'delete namespace', method: 'DELETE', path: `/api/v1/namespaces/${NS}` },
  { cls: 'read', name: 'get namespace right after its delete', path: `/api/v1/namespaces/${NS}` },
  { cls: 'write', name: 'create in a terminating namespace', method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } } },
];

/** Compacts etcd at its current revision through its v3 JSON gateway (what the apiserver's compactor does). */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const range = (await (await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) })).json()) as { header: { revision: string } };
  const r = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: range.header.revision, physical: true }) });
  if (!r.ok) throw new Error(`etcd compaction: HTTP ${r.status} ${await r.text()}`);
}

describe.skipIf(missing !== null)('sandbox fidelity against a real kube-apiserver', () => {
  let real: RealCluster;
  let sandbox: Sandbox;
  const TOKEN = 'fidelity-token';
  let targets: Target[];

  beforeAll(async () => {
    [real, sandbox] = await Promise.all([startRealCluster({ apiserverFlags: ['--watch-cache-sizes=ingresses.networking.k8s.io#0'] }), startSandbox({ tls: 'generate', tokens: { [TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, anonymousAuth: true, seed: false })]);
    targets = [
      { name: 'real', base: real.kube.url, token: real.kube.adminToken, ca: real.kube.caPem, compact: () => compactEtcd(real.kube.etcdUrl), memo: {} },
      { name: 'sandbox', base: sandbox.url, token: TOKEN, ca: sandbox.caPem ?? '', compact: async () => sandbox.faults.compact(), memo: {} },
    ];
    const [r, s] = targets as [Target, Target];
    for (const t of targets) await call(t, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    // The same objects in the same order on both: the real controller-manager publishes kube-root-ca.crt into every
    // namespace; the sandbox gets it by hand before the ConfigMaps of the corpus.
    await waitFor(async () => (await call(r, { path: `${CMS}/kube-root-ca.crt` })).status === 200, { timeoutMs: 30_000, what: 'kube-root-ca.crt in the real namespace' });
    await call(s, { method: 'POST', path: CMS, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': real.kube.caPem } } });
    for (const t of targets) for (let i = 1; i <= 6; i++) await call(t, { method: 'POST', path: CMS, body: cm(i) });
  }, 120_000);

  afterAll(async () => {
    await real?.stop();
    await sandbox?.close();
  });

  test('identical answers after normalisation; the ratio per class and each difference are printed', async () => {
    const rows: { cls: Cls; name: string; same: boolean; real: Json; sandbox: Json }[] = [];
    for (const p of CORPUS) {
      // One after the other: probes with a `during` change must not see the other server's change.
      const r = await send(targets[0] as Target, p);
      const s = await send(targets[1] as Target, p);
      rows.push({ cls: p.cls, name: p.name, same: JSON.stringify(r) === JSON.stringify(s), real: r, sandbox: s });
    }
    const same = rows.filter((r) => r.same).length;
    const byClass = [...new Set(rows.map((r) => r.cls))].map((c) => {
      const of = rows.filter((r) => r.cls === c);
      return `${c} ${of.filter((r) => r.same).length}/${of.length}`;
    });
    const diffs = rows.filter((r) => !r.same).map((r) => `  [${r.cls}] ${r.name}\n    real:    ${JSON.stringify(r.real)}\n    sandbox: ${JSON.stringify(r.sandbox)}`);
    console.log(`sandbox fidelity: ${same}/${rows.length} identical (${((100 * same) / rows.length).toFixed(0)} %); by class: ${byClass.join(', ')}\n${diffs.join('\n')}`);
    expect(same / rows.length).toBeGreaterThanOrEqual(FLOOR);
  }, 180_000);
});
