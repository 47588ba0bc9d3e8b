// Sandbox fidelity: the same corpus of requests (reads, paged and selected lists, metadata-only lists, watches with
// each resourceVersion mode, writes real validation refuses, error cases, discovery, tables) sent to the sandbox
// and to a real kube-apiserver holding the same objects; answers are compared after normalising what is volatile
// (uids, resourceVersions, timestamps, managedFields, continue tokens) and what is a documented default the sandbox
// does not add. The test prints the ratio of identical answers and every difference; docs/sandbox-fidelity.md lists
// the accepted ones. It fails when the ratio drops below the recorded floor.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { type RealCluster, realTierMissing, startRealCluster } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);
/** The identical-answer ratio this tree reaches (docs/sandbox-fidelity.md); a regression fails. */
const FLOOR = 0.75;

interface Probe {
  name: string;
  method?: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Watches: read this many events then stop. */
  watchEvents?: number;
}

const NS = 'fid';
const cm = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: NS, labels: { idx: String(i), tier: i % 2 ? 'odd' : 'even' } }, data: { k: `v${i}` } });
const META = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1,application/json';

const CORPUS: Probe[] = [
  { name: 'get configmap', path: `/api/v1/namespaces/${NS}/configmaps/cm-1` },
  { name: 'get missing configmap', path: `/api/v1/namespaces/${NS}/configmaps/nope` },
  { name: 'get missing namespace', path: '/api/v1/namespaces/nope' },
  { name: 'list configmaps', path: `/api/v1/namespaces/${NS}/configmaps` },
  { name: 'list limit=2', path: `/api/v1/namespaces/${NS}/configmaps?limit=2` },
  { name: 'list bad continue', path: `/api/v1/namespaces/${NS}/configmaps?limit=2&continue=garbage` },
  { name: 'list labelSelector', path: `/api/v1/namespaces/${NS}/configmaps?labelSelector=tier%3Dodd` },
  { name: 'list labelSelector set', path: `/api/v1/namespaces/${NS}/configmaps?labelSelector=idx%20in%20(1,2)` },
  { name: 'list bad labelSelector', path: `/api/v1/namespaces/${NS}/configmaps?labelSelector=%3D%3D%3D` },
  { name: 'list fieldSelector name', path: `/api/v1/namespaces/${NS}/configmaps?fieldSelector=metadata.name%3Dcm-2` },
  { name: 'list bad fieldSelector', path: `/api/v1/namespaces/${NS}/configmaps?fieldSelector=data.k%3Dv1` },
  { name: 'metadata-only list', path: `/api/v1/namespaces/${NS}/configmaps`, headers: { accept: META } },
  { name: 'table list', path: `/api/v1/namespaces/${NS}/configmaps`, headers: { accept: TABLE } },
  { name: 'watch rv=0', path: `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=0`, watchEvents: 5 },
  { name: 'watch rv="" bookmarks', path: `/api/v1/namespaces/${NS}/configmaps?watch=true&allowWatchBookmarks=true&labelSelector=idx%3D1`, watchEvents: 1 },
  { name: 'watch sendInitialEvents without rvMatch', path: `/api/v1/namespaces/${NS}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true` },
  { name: 'watch rv=1 (compacted/too old)', path: `/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=1`, watchEvents: 1 },
  { name: 'create valid configmap', method: 'POST', path: `/api/v1/namespaces/${NS}/configmaps`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made' }, data: { a: 'b' } } },
  { name: 'create duplicate', method: 'POST', path: `/api/v1/namespaces/${NS}/configmaps`, body: cm(1) },
  { name: 'create invalid name', method: 'POST', path: `/api/v1/namespaces/${NS}/configmaps`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' } } },
  { name: 'create in missing namespace', method: 'POST', path: '/api/v1/namespaces/nope/configmaps', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } },
  { name: 'create pod without containers', method: 'POST', path: `/api/v1/namespaces/${NS}/pods`, body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } } },
  { name: 'create ingress without pathType', method: 'POST', path: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`, body: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' }, spec: { rules: [{ host: 'a.b', http: { paths: [{ path: '/', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } } },
  { name: 'put name mismatch', method: 'PUT', path: `/api/v1/namespaces/${NS}/configmaps/cm-2`, body: { ...cm(3) } },
  { name: 'merge patch', method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/cm-4`, body: { data: { extra: 'x' } }, headers: { 'content-type': 'application/merge-patch+json' } },
  { name: 'json patch bad path', method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/cm-4`, body: [{ op: 'replace', path: '/data/none', value: 'x' }], headers: { 'content-type': 'application/json-patch+json' } },
  { name: 'apply without fieldManager', method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/cm-5`, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-5' } }, headers: { 'content-type': 'application/apply-patch+yaml' } },
  { name: 'secret stringData', method: 'POST', path: `/api/v1/namespaces/${NS}/secrets`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, stringData: { a: 'b' } } },
  { name: 'delete configmap', method: 'DELETE', path: `/api/v1/namespaces/${NS}/configmaps/cm-6` },
  { name: 'delete missing', method: 'DELETE', path: `/api/v1/namespaces/${NS}/configmaps/nope` },
  { name: 'unknown resource', path: `/api/v1/namespaces/${NS}/widgets` },
  { name: 'unknown group', path: '/apis/example.com/v1/things' },
  { name: 'discovery /api', path: '/api' },
  { name: 'discovery /apis/apps', path: '/apis/apps' },
  { name: 'discovery /api/v1 has configmaps', path: '/api/v1' },
  { name: 'version', path: '/version' },
  { name: 'ssar empty', method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} } },
  { name: 'ssar list pods', method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'pods' } } } },
  { name: 'pod log of missing pod', path: `/api/v1/namespaces/${NS}/pods/nope/log` },
  { name: 'namespaced list of cluster resource', path: `/api/v1/namespaces/${NS}/nodes` },
];

type Json = Record<string, unknown>;

/** The comparable essence of an answer: status code, kind, Status reason, object names/data, list paging shape. */
function normalise(code: number, body: unknown, watch: unknown[] | null): Json {
  if (watch) return { code, events: watch.map((e) => normalise(200, e, null)) };
  if (!body || typeof body !== 'object') return { code, body: typeof body === 'string' ? body.slice(0, 40) : body };
  const b = body as Json;
  const md = (b.metadata ?? {}) as Json;
  const out: Json = { code, kind: b.kind ?? null };
  if (b.type && b.object) return { type: b.type, object: normalise(200, b.object, null) };
  if (b.kind === 'Status') return { ...out, status: b.status, reason: b.reason ?? null, statusCode: b.code };
  if (Array.isArray(b.items)) {
    out.items = (b.items as Json[]).map((i) => `${((i.metadata ?? {}) as Json).name}${i.kind ? `:${i.kind}` : ''}${i.data ? `:${Object.keys(i.data as Json).sort().join(',')}` : ''}`).sort();
    out.continue = Boolean(md.continue);
    out.remainingItemCount = md.remainingItemCount ?? null;
    return out;
  }
  if (Array.isArray(b.rows)) return { ...out, rows: (b.rows as Json[]).length, columns: (b.columnDefinitions as Json[]).map((c) => `${c.name}:${c.type}`) };
  if (b.kind === 'APIResourceList') return { ...out, hasConfigmaps: (b.resources as Json[]).some((r) => r.name === 'configmaps') };
  if (b.kind === 'APIGroup' || b.kind === 'APIVersions') return { ...out, name: b.name ?? null };
  if (b.kind === 'SelfSubjectAccessReview') return { ...out, allowed: (b.status as Json | undefined)?.allowed ?? null };
  if (b.gitVersion) return { code, version: 'present' };
  const data = b.data && typeof b.data === 'object' ? Object.fromEntries(Object.entries(b.data as Json).sort(([x], [y]) => (x < y ? -1 : 1))) : null;
  return { ...out, name: md.name ?? null, data };
}

async function send(base: string, token: string, ca: string, p: Probe): Promise<Json> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', ...(p.body !== undefined ? { 'content-type': 'application/json' } : {}), ...p.headers };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), p.watchEvents ? 4_000 : 10_000);
  try {
    const r = await fetch(`${base}${p.path}`, { method: p.method ?? 'GET', headers, ...(p.body !== undefined ? { body: JSON.stringify(p.body) } : {}), signal: ac.signal, tls: { ca } } as RequestInit);
    if (p.path.includes('watch=true') && r.ok && r.body) {
      const events: unknown[] = [];
      let buf = '';
      const dec = new TextDecoder();
      try {
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) events.push(JSON.parse(line));
          }
          if (events.length >= (p.watchEvents ?? 1)) break;
        }
      } catch {
        // aborted by the timer: what arrived is the answer
      }
      ac.abort();
      return normalise(r.status, null, events.filter((e) => (e as Json).type !== 'BOOKMARK' || ((e as Json).object as Json | undefined)?.metadata !== undefined).slice(0, p.watchEvents ?? 1));
    }
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: compared as text
    }
    return normalise(r.status, body, null);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(missing !== null)('sandbox fidelity against a real kube-apiserver', () => {
  let real: RealCluster;
  let sandbox: Sandbox;
  const TOKEN = 'fidelity-token';

  beforeAll(async () => {
    [real, sandbox] = await Promise.all([startRealCluster(), startSandbox({ tls: 'generate', tokens: { [TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: false })]);
    const setup = async (base: string, token: string, ca: string) => {
      const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), tls: { ca } } as RequestInit).then((r) => r.text());
      await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      for (let i = 1; i <= 6; i++) await post(`/api/v1/namespaces/${NS}/configmaps`, cm(i));
    };
    await Promise.all([setup(real.kube.url, real.kube.adminToken, real.kube.caPem), setup(sandbox.url, TOKEN, sandbox.caPem ?? '')]);
    // The same objects on both: the real controller-manager publishes kube-root-ca.crt into every namespace.
    await fetch(`${sandbox.url}/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': real.kube.caPem } }),
      tls: { ca: sandbox.caPem },
    } as RequestInit).then((r) => r.text());
  }, 120_000);

  afterAll(async () => {
    await real?.stop();
    await sandbox?.close();
  });

  test('identical answers after normalisation; the ratio and each difference are printed', async () => {
    const rows: { name: string; same: boolean; real: Json; sandbox: Json }[] = [];
    for (const p of CORPUS) {
      const [r, s] = await Promise.all([send(real.kube.url, real.kube.adminToken, real.kube.caPem, p), send(sandbox.url, TOKEN, sandbox.caPem ?? '', p)]);
      rows.push({ name: p.name, same: JSON.stringify(r) === JSON.stringify(s), real: r, sandbox: s });
    }
    const same = rows.filter((r) => r.same).length;
    const diffs = rows.filter((r) => !r.same).map((r) => `  ${r.name}\n    real:    ${JSON.stringify(r.real)}\n    sandbox: ${JSON.stringify(r.sandbox)}`);
    console.log(`sandbox fidelity: ${same}/${rows.length} identical (${((100 * same) / rows.length).toFixed(0)} %)\n${diffs.join('\n')}`);
    expect(same / rows.length).toBeGreaterThanOrEqual(FLOOR);
  }, 120_000);
});
