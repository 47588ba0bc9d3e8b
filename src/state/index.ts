// Picks the state backend: Kubernetes objects in a cluster, a YAML file outside one (deviation S1).
import type { KubeClient } from '../kube/client.ts';
import { type StateStore, StateError } from './agent-state.ts';
import { FileStateStore, locateStateFile } from './file-store.ts';
import { DEFAULT_STATE_NAMESPACE, KubeStateStore } from './kube-store.ts';

export { EMPTY_STATE, type PersistedState, PersistedStateSchema, StateError, type StateStore } from './agent-state.ts';
export { FileStateStore, locateStateFile } from './file-store.ts';
export { KubeStateStore, resolveStateNamespace } from './kube-store.ts';
export { deriveAgentId, gatherIdentityFacts, resolveAgentId } from './identity.ts';

export type OpenStateStoreOptions = {
  inCluster: boolean;
  kube?: KubeClient;
  filePath?: string;
  /** Already resolved (see resolveStateNamespace); defaults to pipeops-system. */
  namespace?: string;
  configMapName?: string;
  secretName?: string;
  searchPaths?: string[];
};

export function openStateStore(opts: OpenStateStoreOptions): StateStore {
  if (opts.inCluster) {
    if (!opts.kube) throw new StateError('state_no_kube', 'in-cluster state needs a Kubernetes client');
    return new KubeStateStore(opts.kube, {
      namespace: opts.namespace || DEFAULT_STATE_NAMESPACE,
      ...(opts.configMapName ? { configMapName: opts.configMapName } : {}),
      ...(opts.secretName ? { secretName: opts.secretName } : {}),
    });
  }
  return new FileStateStore(locateStateFile(opts.filePath, opts.searchPaths));
}
