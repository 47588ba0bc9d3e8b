// Keeps the exposure objects (exposure-objects.ts) in the cluster: server-side apply with our field manager of
// every wanted object we own or that does not exist yet, deletion of every object we own that is no longer wanted
// (also after a family or the whole block was switched off, as long as `gateway.enabled` stays true), and never a
// write to an object without our ownership labels. Everything happens in `gateway.namespace` (the chart grants a
// Role there): objects left in a namespace configured before are not seen. Runs at start, then periodically to
// repair drift.
import type { MetricUpdate } from '../threads/metric-update.ts';
import { type KubeClient, type KubeList, type KubeObject, isKubeError } from '../kube/client.ts';
import type { GatewayConfig } from '../config/exposure-schema.ts';
import {
  collectionPath,
  type DesiredObject,
  decideEnvironment,
  desiredObjects,
  EXPOSURE_FIELD_MANAGER,
  type ExposureEnvironment,
  type ExposureKind,
  isOwned,
  OWNED_SELECTOR,
  objectId,
  objectPath,
  watchedKinds,
} from './exposure-objects.ts';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ExposureOptions {
  kube: KubeClient;
  config: GatewayConfig;
  /** Period of the drift repair (default 5 min). */
  resyncMs?: number;
  log?: Log;
  metric?: (u: MetricUpdate) => void;
}

export interface ExposureReport {
  environment: ExposureEnvironment | null;
  /** Applied and changed by it (created or updated). */
  applied: string[];
  /** Applied, already as wanted. */
  unchanged: string[];
  deleted: string[];
  /** Wanted, but an object of that name exists without our labels: left alone. */
  refused: { object: string; reason: string }[];
  failed: { object: string; error: string }[];
}

export const DEFAULT_EXPOSURE_RESYNC_MS = 5 * 60_000;

type Node = { metadata?: { name?: string }; status?: { addresses?: { type: string; address: string }[]; nodeInfo?: { kubeletVersion?: string } } };

export class Exposure {
  readonly #o: ExposureOptions;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<ExposureReport> | null = null;
  #stopped = false;
  /** The last report (tests and status). */
  last: ExposureReport | null = null;

  constructor(o: ExposureOptions) {
    this.#o = o;
  }

  /** Reconcile now and then every `resyncMs`. Nothing at all when `gateway.enabled` is false. */
  start(): void {
    if (!this.#o.config.enabled || this.#stopped) return;
    const tick = async () => {
      this.#timer = null;
      await this.reconcile();
      if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.resyncMs ?? DEFAULT_EXPOSURE_RESYNC_MS);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass; concurrent callers share it. Never throws: failures are in the report (and logged). */
  reconcile(): Promise<ExposureReport> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #pass(): Promise<ExposureReport> {
    const g = this.#o.config;
    const log = this.#o.log;
    const report: ExposureReport = { environment: null, applied: [], unchanged: [], deleted: [], refused: [], failed: [] };
    if (!g.enabled) return report;
    report.environment = await this.#environment();
    const desired = desiredObjects(g, report.environment);
    const wanted = new Set(desired.map((d) => objectId(d.kind, d.namespace, d.name)));
    const unserved = new Set<ExposureKind>();

    for (const d of desired) {
      const id = objectId(d.kind, d.namespace, d.name);
      try {
        const out = await this.#apply(d);
        if (out === 'refused') {
          report.refused.push({ object: id, reason: 'exists without the pipeops-agent ownership labels; not touched' });
          log?.warn({ object: id }, 'exposure object exists and is not ours: not touched');
        } else {
          report[out].push(id);
          if (out === 'applied') log?.info({ object: id }, 'exposure object applied');
        }
      } catch (e) {
        const noNamespace = isKubeError(e, 404) && e.message.includes(`namespaces "${d.namespace}" not found`);
        if (isKubeError(e, 404) && !noNamespace) unserved.add(d.kind);
        const error = noNamespace
          ? `namespace ${d.namespace} does not exist (gateway.namespace)`
          : isKubeError(e, 404)
            ? `the API server does not serve ${d.kind.group}/${d.kind.version} ${d.kind.resource} (CRDs not installed?)`
            : (e as Error).message;
        report.failed.push({ object: id, error });
        log?.warn({ object: id, err: error }, 'exposure object not applied');
      }
    }

    for (const k of watchedKinds(g)) {
      if (unserved.has(k)) continue;
      let items: KubeObject[];
      try {
        items = await this.#listOwned(k);
      } catch (e) {
        if (isKubeError(e) && e.status === 404) {
          log?.debug({ kind: `${k.group}/${k.kind}` }, 'exposure kind not served: nothing of ours to remove');
          continue;
        }
        report.failed.push({ object: `${k.group}/${k.kind}`, error: (e as Error).message });
        log?.warn({ kind: `${k.group}/${k.kind}`, err: (e as Error).message }, 'cannot list exposure objects');
        continue;
      }
      for (const o of items) {
        const ns = o.metadata?.namespace ?? '';
        const name = o.metadata?.name ?? '';
        const id = objectId(k, ns, name);
        if (wanted.has(id) || !isOwned(o)) continue;
        try {
          await this.#o.kube.delete(objectPath(k, ns, name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: o.metadata?.uid } });
          report.deleted.push(id);
          log?.info({ object: id }, 'exposure object removed: no longer configured');
        } catch (e) {
          if (isKubeError(e) && e.status === 404) continue;
          report.failed.push({ object: id, error: (e as Error).message });
          log?.warn({ object: id, err: (e as Error).message }, 'exposure object not removed');
        }
      }
    }
    this.last = report;
    for (const state of ['applied', 'unchanged', 'refused', 'failed'] as const) this.#o.metric?.({ name: 'gateway_exposure_objects', op: 'set', value: report[state].length, labels: { state } });
    if (report.deleted.length) this.#o.metric?.({ name: 'gateway_exposure_deleted_total', op: 'inc', value: report.deleted.length });
    return report;
  }

  /** 'applied' (created or changed), 'unchanged', or 'refused' (someone else's object). */
  async #apply(d: DesiredObject): Promise<'applied' | 'unchanged' | 'refused'> {
    const path = objectPath(d.kind, d.namespace, d.name);
    let before: KubeObject | null = null;
    try {
      before = await this.#o.kube.get(path);
    } catch (e) {
      // 404 on the object, or on the whole kind: the apply below tells which.
      if (!isKubeError(e, 404)) throw e;
    }
    if (before && !isOwned(before)) return 'refused';
    // Force only over an object that is ours (taking back fields someone edited); a create is not forced, so an
    // object someone else made since the read conflicts (409) instead of being taken over.
    const after = await this.#o.kube.patch<KubeObject>(`${path}?fieldManager=${EXPOSURE_FIELD_MANAGER}${before ? '&force=true' : ''}`, d.body, 'apply');
    return before && before.metadata?.resourceVersion === after.metadata?.resourceVersion ? 'unchanged' : 'applied';
  }

  async #listOwned(k: ExposureKind): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    let cont: string | undefined;
    do {
      const page: KubeList<KubeObject> = await this.#o.kube.list(collectionPath(k, this.#o.config.namespace), { labelSelector: OWNED_SELECTOR, limit: 500, ...(cont ? { continue: cont } : {}) });
      out.push(...page.items);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  }

  async #environment(): Promise<ExposureEnvironment> {
    const g = this.#o.config;
    const needNodes = g.environment.mode === '' || (g.environment.mode === 'single-vm' && g.environment.vm_ip === '');
    let nodes: { addresses: { type: string; address: string }[]; kubeletVersion: string }[] | null = null;
    if (needNodes) {
      try {
        const list = await this.#o.kube.list<Node>('/api/v1/nodes');
        nodes = list.items.map((n) => ({ addresses: n.status?.addresses ?? [], kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '' }));
      } catch (e) {
        this.#o.log?.warn({ err: (e as Error).message }, 'exposure: cannot list nodes to detect the environment; assuming managed');
      }
    }
    const env = decideEnvironment(g, nodes);
    if (env.mode === 'single-vm' && !env.vmIp) this.#o.log?.warn({}, 'exposure: single-vm mode without a VM IP (none configured, no node address): the Gateway gets no address');
    return { mode: env.mode, vmIp: env.vmIp };
  }
}
