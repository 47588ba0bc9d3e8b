// A stand-in for the control plane's route registry (protocol.md §1.1): POST register/sync/unregister with a
// Bearer token, 200 on success. State: hostname → route (last write wins); `sync` replaces the cluster's routes.
// Routes are stored normalised, so register- and sync-made entries compare equal.
import { ROUTES_PATH, RegisterRouteSchema, SyncRoutesSchema, UnregisterRouteSchema } from '../../../src/protocol/route-registry-messages.ts';

export interface StoredRoute {
  hostname: string;
  cluster_uuid: string;
  ingress_name: string;
  path: string;
  path_type: string;
  tls: boolean;
  service_namespace: string;
  service_name: string;
  service_port: number;
  routing_mode: string;
  public_endpoint: string;
}

export interface RegistryCall {
  op: 'register' | 'unregister' | 'sync';
  body: unknown;
  status: number;
  at: number;
}

export class FakeRegistry {
  readonly token: string;
  readonly routes = new Map<string, StoredRoute>();
  readonly calls: RegistryCall[] = [];
  /** Status answered on success (tests set 201/204 to prove only 200 counts). */
  okStatus = 200;
  #fail = 0;
  #failStatus = 500;
  #server: ReturnType<typeof Bun.serve> | null = null;
  #waiters: { pred: (c: RegistryCall) => boolean; resolve: (c: RegistryCall) => void }[] = [];

  constructor(token = 'registry-test-token') {
    this.token = token;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server!.port}`;
  }

  start(): this {
    this.#server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => this.handle(req) });
    return this;
  }

  async stop(): Promise<void> {
    await this.#server?.stop(true);
  }

  /** The next `n` calls fail with `status`. */
  failNext(n: number, status = 500): void {
    this.#fail = n;
    this.#failStatus = status;
  }

  /** Resolves with the next call (after this moment) matching `pred`. */
  next(pred: (c: RegistryCall) => boolean = () => true): Promise<RegistryCall> {
    return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
  }

  reset(): void {
    this.routes.clear();
    this.calls.length = 0;
    this.#fail = 0;
  }

  snapshot(): Record<string, StoredRoute> {
    return Object.fromEntries([...this.routes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** The request handler (also usable inside another server, e.g. a hub-compatible test server). */
  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const op = url.pathname.startsWith(`${ROUTES_PATH}/`) ? url.pathname.slice(ROUTES_PATH.length + 1) : '';
    if (req.method !== 'POST' || !['register', 'unregister', 'sync'].includes(op)) return new Response('not found', { status: 404 });
    if (req.headers.get('authorization') !== `Bearer ${this.token}`) return new Response('{"error":"unauthorized"}', { status: 401 });
    const body = await req.json().catch(() => undefined);
    const status = this.#apply(op as RegistryCall['op'], body);
    const call: RegistryCall = { op: op as RegistryCall['op'], body, status, at: performance.now() };
    this.calls.push(call);
    for (const w of [...this.#waiters]) {
      if (w.pred(call)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(call);
      }
    }
    return new Response(status === this.okStatus ? '{"status":"ok"}' : '{"error":"failed"}', { status, headers: { 'content-type': 'application/json' } });
  }

  #apply(op: RegistryCall['op'], body: unknown): number {
    if (this.#fail > 0) {
      this.#fail--;
      return this.#failStatus;
    }
    if (op === 'register') {
      const r = RegisterRouteSchema.safeParse(body);
      if (!r.success) return 400;
      const b = r.data;
      this.routes.set(b.hostname, {
        hostname: b.hostname,
        cluster_uuid: b.cluster_uuid,
        ingress_name: b.ingress_name,
        path: b.path,
        path_type: b.path_type,
        tls: b.tls,
        service_namespace: b.namespace,
        service_name: b.service_name,
        service_port: b.service_port,
        routing_mode: b.routing_mode ?? '',
        public_endpoint: b.public_endpoint ?? '',
      });
    } else if (op === 'unregister') {
      const r = UnregisterRouteSchema.safeParse(body);
      if (!r.success) return 400;
      this.routes.delete(r.data.hostname);
    } else {
      const r = SyncRoutesSchema.safeParse(body);
      if (!r.success) return 400;
      const b = r.data;
      for (const [h, route] of this.routes) if (route.cluster_uuid === b.cluster_uuid) this.routes.delete(h);
      for (const ing of b.ingresses)
        for (const rule of ing.rules)
          for (const p of rule.paths)
            this.routes.set(rule.host, {
              hostname: rule.host,
              cluster_uuid: b.cluster_uuid,
              ingress_name: ing.ingress_name,
              path: p.path,
              path_type: p.path_type,
              tls: rule.tls,
              service_namespace: b.ingress_controller?.namespace ?? ing.namespace,
              service_name: p.service_name,
              service_port: p.service_port,
              routing_mode: b.routing_mode ?? '',
              public_endpoint: b.public_endpoint ?? '',
            });
    }
    return this.okStatus;
  }
}
