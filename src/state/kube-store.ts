// State in a cluster (protocol §9.5): a ConfigMap (ids, gateway URL) and an Opaque Secret (token, CA data) with the
// upstream names, keys and labels, so an agent replaced by ours (or the reverse) finds its state.
import { type KubeClient, type KubeObject, isKubeError } from '../kube/client.ts';
import { EMPTY_STATE, type PersistedState, StateError, type StateStore } from './agent-state.ts';

export const DEFAULT_STATE_CONFIGMAP = 'pipeops-agent-state';
export const DEFAULT_STATE_SECRET = 'pipeops-agent-secrets';
export const DEFAULT_STATE_NAMESPACE = 'pipeops-system';

// `cluster_uuid` is ours (upstream persists only the id and dials with it); upstream ignores the extra key.
const CONFIGMAP_KEYS = ['agent_id', 'cluster_id', 'cluster_uuid', 'gateway_ws_url'] as const;
const SECRET_KEYS = ['cluster_token', 'cluster_cert_data'] as const;

export function stateLabels(component: 'state' | 'secrets'): Record<string, string> {
  return { 'app.kubernetes.io/name': 'pipeops-agent', 'app.kubernetes.io/component': component, 'app.kubernetes.io/managed-by': 'pipeops-agent' };
}

/** Namespace of the state objects: option ▸ SA namespace file ▸ PIPEOPS_POD_NAMESPACE ▸ pipeops-system. */
export function resolveStateNamespace(opts: { configured?: string; serviceAccountNamespace?: string; env: Record<string, string | undefined> }): string {
  return opts.configured || opts.serviceAccountNamespace || opts.env.PIPEOPS_POD_NAMESPACE || DEFAULT_STATE_NAMESPACE;
}

type DataObject = KubeObject & { data?: Record<string, string>; type?: string };

export class KubeStateStore implements StateStore {
  readonly #kube: KubeClient;
  readonly namespace: string;
  readonly configMapName: string;
  readonly secretName: string;

  constructor(kube: KubeClient, opts: { namespace: string; configMapName?: string; secretName?: string }) {
    this.#kube = kube;
    this.namespace = opts.namespace;
    this.configMapName = opts.configMapName || DEFAULT_STATE_CONFIGMAP;
    this.secretName = opts.secretName || DEFAULT_STATE_SECRET;
  }

  describe(): string {
    return `configmap ${this.namespace}/${this.configMapName} + secret ${this.namespace}/${this.secretName}`;
  }

  #path(kind: 'configmaps' | 'secrets', name?: string): string {
    const base = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/${kind}`;
    return name ? `${base}/${encodeURIComponent(name)}` : base;
  }

  async #read(kind: 'configmaps' | 'secrets', name: string): Promise<DataObject | undefined> {
    try {
      return await this.#kube.get<DataObject>(this.#path(kind, name));
    } catch (e) {
      if (isKubeError(e, 404)) return undefined;
      throw this.#wrap(e);
    }
  }

  #wrap(e: unknown): Error {
    if (isKubeError(e, 403)) {
      return new StateError('state_forbidden', `cannot use agent state in namespace ${this.namespace}: ${e.message}; the agent needs get/create/update on configmaps and secrets there`);
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  async load(): Promise<PersistedState> {
    const [cm, sec] = await Promise.all([this.#read('configmaps', this.configMapName), this.#read('secrets', this.secretName)]);
    const s: PersistedState = { ...EMPTY_STATE };
    for (const k of CONFIGMAP_KEYS) s[k] = cm?.data?.[k] ?? '';
    for (const k of SECRET_KEYS) {
      const v = sec?.data?.[k];
      s[k] = v ? Buffer.from(v, 'base64').toString('utf8') : '';
    }
    return s;
  }

  async save(s: PersistedState): Promise<void> {
    const cmData: Record<string, string> = {};
    for (const k of CONFIGMAP_KEYS) cmData[k] = s[k] ?? '';
    const secData: Record<string, string> = {};
    for (const k of SECRET_KEYS) secData[k] = Buffer.from(s[k] ?? '', 'utf8').toString('base64');
    await this.#upsert('configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: this.configMapName, namespace: this.namespace, labels: stateLabels('state') },
      data: cmData,
    });
    await this.#upsert('secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: this.secretName, namespace: this.namespace, labels: stateLabels('secrets') },
      data: secData,
    });
  }

  /** Create if missing, else replace; a 409 (concurrent write, or a create race) re-reads the RV and retries once. */
  async #upsert(kind: 'configmaps' | 'secrets', obj: DataObject): Promise<void> {
    const name = obj.metadata!.name!;
    for (let attempt = 0; attempt < 2; attempt++) {
      const cur = await this.#read(kind, name);
      try {
        if (!cur) await this.#kube.create(this.#path(kind), obj);
        else {
          const labels = { ...(cur.metadata?.labels ?? {}), ...(obj.metadata?.labels ?? {}) };
          await this.#kube.replace(this.#path(kind, name), {
            ...obj,
            metadata: { ...obj.metadata, labels, resourceVersion: cur.metadata?.resourceVersion },
          });
        }
        return;
      } catch (e) {
        if (isKubeError(e, 409) && attempt === 0) continue;
        if (isKubeError(e, 404)) {
          throw new StateError('state_namespace_missing', `cannot save agent state: namespace ${this.namespace} does not exist (${e.message}); create it or set agent.state_namespace`);
        }
        throw this.#wrap(e);
      }
    }
  }
}
