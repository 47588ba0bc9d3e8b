// A tiny HTTPS Kubernetes API fake on Bun.serve for the client, informer and state-store tests, with the failure
// knobs those need (forbid, expire RVs, drop watches, bookmarks, split lines, never-ending responses).
import { join } from 'node:path';

export const TLS_DIR = join(import.meta.dir, '../../fixtures/tls');
export const CA_PEM = await Bun.file(join(TLS_DIR, 'ca.crt')).text();

type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, unknown> & { name: string; namespace?: string; resourceVersion?: string }; [k: string]: unknown };
type Event = { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; res: string; obj: Obj };
type Watcher = { res: string; ns?: string; push: (line: string) => void; close: () => void };

const KINDS: Record<string, [string, string]> = {
  configmaps: ['v1', 'ConfigMap'],
  secrets: ['v1', 'Secret'],
  pods: ['v1', 'Pod'],
  nodes: ['v1', 'Node'],
  namespaces: ['v1', 'Namespace'],
};

function parsePath(p: string): { res: string; ns?: string; name?: string } | null {
  const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?$/.exec(p);
  if (!m) return null;
  return { res: m[2]!, ...(m[1] ? { ns: m[1] } : {}), ...(m[3] ? { name: m[3] } : {}) };
}

export type Seen = { method: string; path: string; auth: string | null; accept: string | null; contentType: string | null; userAgent?: string | null };

export class FakeKube {
  rv = 100;
  readonly objects = new Map<string, Obj>(); // res|ns|name
  readonly events: Event[] = [];
  readonly watchers = new Set<Watcher>();
  readonly seen: Seen[] = [];
  tokens = new Set<string>(['fake-token-0123456789']);
  /** Watches asking for an RV below this get a 410 ERROR event. */
  expireBelow = 0;
  forbid: (method: string, path: string) => boolean = () => false;
  /** What /readyz answers: a real apiserver answers 403 on everything between opening its port and being ready. */
  ready = true;
  splitLines = false;
  /** Answer metadata-only lists (PartialObjectMetadataList) and honour limit/remainingItemCount. */
  honourLimit = true;
  /** Before a PUT is applied (to inject a conflicting write). */
  beforePut?: (path: string) => void;
  server!: ReturnType<typeof Bun.serve>;

  get url(): string {
    return `https://127.0.0.1:${this.server.port}`;
  }

  start(): this {
    this.server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      idleTimeout: 0,
      tls: { cert: Bun.file(join(TLS_DIR, 'server.crt')), key: Bun.file(join(TLS_DIR, 'server.key')) },
      fetch: (req) => this.handle(req),
    });
    return this;
  }

  stop(): void {
    this.dropWatches();
    this.server.stop(true);
  }

  key(res: string, ns: string | undefined, name: string): string {
    return `${res}|${ns ?? ''}|${name}`;
  }

  /** Direct store write (as another client would), recorded as a watch event. */
  put(res: string, obj: Obj, type?: 'ADDED' | 'MODIFIED'): Obj {
    const k = this.key(res, obj.metadata.namespace, obj.metadata.name);
    const existed = this.objects.has(k);
    const [apiVersion, kind] = KINDS[res] ?? ['v1', 'Thing'];
    const o = structuredClone({ apiVersion, kind, ...obj });
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= crypto.randomUUID();
    this.objects.set(k, o);
    this.emit({ rv: this.rv, type: type ?? (existed ? 'MODIFIED' : 'ADDED'), res, obj: o });
    return o;
  }

  remove(res: string, ns: string | undefined, name: string, silent = false): boolean {
    const k = this.key(res, ns, name);
    const o = this.objects.get(k);
    if (!o) return false;
    this.objects.delete(k);
    const d = structuredClone(o);
    d.metadata.resourceVersion = String(++this.rv);
    if (!silent) this.emit({ rv: this.rv, type: 'DELETED', res, obj: d });
    return true;
  }

  bookmark(res: string): number {
    const rv = ++this.rv;
    const [apiVersion, kind] = KINDS[res] ?? ['v1', 'Thing'];
    for (const w of this.watchers) if (w.res === res) w.push(JSON.stringify({ type: 'BOOKMARK', object: { apiVersion, kind, metadata: { resourceVersion: String(rv) } } }));
    return rv;
  }

  /** Ends every open watch stream (as an apiserver restart or a proxy idle cut would). */
  dropWatches(): void {
    for (const w of [...this.watchers]) w.close();
    this.watchers.clear();
  }

  get(res: string, ns: string | undefined, name: string): Obj | undefined {
    return this.objects.get(this.key(res, ns, name));
  }

  private emit(e: Event): void {
    this.events.push(e);
    for (const w of this.watchers) {
      if (w.res === e.res && (!w.ns || w.ns === e.obj.metadata.namespace)) w.push(JSON.stringify({ type: e.type, object: e.obj }));
    }
  }

  private status(code: number, reason: string, message: string, details?: object): Response {
    return Response.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) }, { status: code });
  }

  private async handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const auth = req.headers.get('authorization');
    this.seen.push({ method: req.method, path: u.pathname + u.search, auth, accept: req.headers.get('accept'), contentType: req.headers.get('content-type'), userAgent: req.headers.get('user-agent') });
    if (u.pathname === '/stream-forever') {
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('first-chunk\n'));
          },
        }),
      );
    }
    const tok = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!tok || !this.tokens.has(tok)) return this.status(401, 'Unauthorized', 'Unauthorized');
    if (u.pathname === '/readyz') return this.ready ? new Response('ok') : new Response('[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed', { status: 500 });
    if (u.pathname === '/version') return Response.json({ major: '1', minor: '31', gitVersion: 'v1.31.2-fake' });
    if (u.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' && req.method === 'POST') {
      const body = (await req.json()) as { spec: { resourceAttributes: { verb: string; resource: string } } };
      const a = body.spec.resourceAttributes;
      const allowed = !this.forbid(a.verb, a.resource);
      return Response.json({ ...body, status: { allowed } }, { status: 201 });
    }
    if (this.forbid(req.method, u.pathname)) {
      const p = parsePath(u.pathname);
      return this.status(403, 'Forbidden', `${p?.res ?? 'thing'} is forbidden: User "system:serviceaccount:x:y" cannot ${req.method.toLowerCase()} resource`, {
        kind: p?.res,
        ...(p?.name ? { name: p.name } : {}),
      });
    }
    const p = parsePath(u.pathname);
    if (!p) return this.status(404, 'NotFound', 'the server could not find the requested resource');
    const [apiVersion, kind] = KINDS[p.res] ?? ['v1', 'Thing'];
    if (req.method === 'GET' && !p.name) {
      if (u.searchParams.get('watch') === '1' || u.searchParams.get('watch') === 'true') return this.watch(p.res, p.ns, Number(u.searchParams.get('resourceVersion') ?? '0'));
      let items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${p.res}|`) && (!p.ns || k.startsWith(`${p.res}|${p.ns}|`)))
        .map(([, o]) => o)
        .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
      const sel = u.searchParams.get('labelSelector');
      if (sel) {
        const [lk, lv] = sel.split('=');
        items = items.filter((o) => (o.metadata.labels as Record<string, string> | undefined)?.[lk!] === lv);
      }
      const meta: Record<string, unknown> = { resourceVersion: String(this.rv) };
      const limit = Number(u.searchParams.get('limit') ?? '0');
      const offset = Number(u.searchParams.get('continue') ?? '0');
      if (this.honourLimit && limit > 0) {
        const page = items.slice(offset, offset + limit);
        if (offset + limit < items.length) {
          meta.continue = String(offset + limit);
          meta.remainingItemCount = items.length - offset - limit;
        }
        items = page;
      }
      const partial = this.honourLimit && (req.headers.get('accept') ?? '').includes('as=PartialObjectMetadataList');
      if (partial) {
        return Response.json({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: meta, items: items.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata })) });
      }
      return Response.json({ kind: `${kind}List`, apiVersion, metadata: meta, items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) });
    }
    if (req.method === 'GET') {
      const o = this.get(p.res, p.ns, p.name!);
      return o ? Response.json(o) : this.status(404, 'NotFound', `${p.res} "${p.name}" not found`, { name: p.name, kind: p.res });
    }
    if (req.method === 'POST' && !p.name) {
      const body = (await req.json()) as Obj;
      if (this.get(p.res, p.ns, body.metadata.name)) return this.status(409, 'AlreadyExists', `${p.res} "${body.metadata.name}" already exists`);
      return Response.json(this.put(p.res, { ...body, metadata: { ...body.metadata, ...(p.ns ? { namespace: p.ns } : {}) } }), { status: 201 });
    }
    if (req.method === 'PUT' && p.name) {
      this.beforePut?.(u.pathname);
      const body = (await req.json()) as Obj;
      const cur = this.get(p.res, p.ns, p.name);
      if (!cur) return this.status(404, 'NotFound', `${p.res} "${p.name}" not found`);
      if (body.metadata.resourceVersion && body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        return this.status(409, 'Conflict', `Operation cannot be fulfilled on ${p.res} "${p.name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      return Response.json(this.put(p.res, { ...body, metadata: { ...body.metadata, ...(p.ns ? { namespace: p.ns } : {}), uid: cur.metadata.uid } }));
    }
    if (req.method === 'DELETE' && p.name) {
      return this.remove(p.res, p.ns, p.name) ? Response.json({ kind: 'Status', status: 'Success' }) : this.status(404, 'NotFound', `${p.res} "${p.name}" not found`);
    }
    return this.status(405, 'MethodNotAllowed', 'method not allowed');
  }

  private watch(res: string, ns: string | undefined, since: number): Response {
    const enc = new TextEncoder();
    const fake = this;
    let w: Watcher | undefined;
    return new Response(
      new ReadableStream({
        start(c) {
          const send = (line: string) => {
            try {
              if (fake.splitLines) {
                const cut = Math.floor(line.length / 2);
                c.enqueue(enc.encode(line.slice(0, cut)));
                c.enqueue(enc.encode(`${line.slice(cut)}\n`));
              } else c.enqueue(enc.encode(`${line}\n`));
            } catch {
              // stream already closed
            }
          };
          if (since < fake.expireBelow) {
            send(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${since} (${fake.expireBelow})`, reason: 'Expired', code: 410 } }));
            c.close();
            return;
          }
          for (const e of fake.events) {
            if (e.rv > since && e.res === res && (!ns || e.obj.metadata.namespace === ns)) send(JSON.stringify({ type: e.type, object: e.obj }));
          }
          w = {
            res,
            ...(ns ? { ns } : {}),
            push: send,
            close: () => {
              try {
                c.close();
              } catch {
                // already closed
              }
            },
          };
          fake.watchers.add(w);
        },
        cancel() {
          if (w) fake.watchers.delete(w);
        },
      }),
      { headers: { 'content-type': 'application/json' } },
    );
  }
}
