// Discovery documents, aggregated (apidiscovery.k8s.io v2/v2beta1) and legacy, all derived from the registry.
import type { KubeObject } from './kube-object.ts';
import {
  apiVersionOf,
  type GroupVersions,
  type ResourceKind,
  type ResourceRegistry,
  SUBRESOURCE_INFO,
  singularOf,
  verbsOf,
} from './resource-registry.ts';

function responseKind(k: ResourceKind, kind = k.kind) {
  return { group: k.group, version: k.version, kind };
}

function aggregatedResource(k: ResourceKind) {
  return {
    resource: k.resource,
    responseKind: responseKind(k),
    scope: k.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: singularOf(k),
    verbs: verbsOf(k),
    ...(k.shortNames ? { shortNames: k.shortNames } : {}),
    ...(k.categories ? { categories: k.categories } : {}),
    ...(k.subresources
      ? {
          subresources: k.subresources.map((s) => ({
            subresource: s,
            responseKind: responseKind(k, SUBRESOURCE_INFO[s].kind ?? k.kind),
            verbs: SUBRESOURCE_INFO[s].verbs,
          })),
        }
      : {}),
  };
}

function aggregatedGroup(g: GroupVersions) {
  return {
    metadata: { name: g.group, creationTimestamp: null },
    versions: g.versions.map((v) => ({
      version: v.version,
      resources: v.kinds.map(aggregatedResource),
      freshness: 'Current',
    })),
  };
}

/** `/api` (core only) or `/apis` (every other group) as an APIGroupDiscoveryList. */
export function aggregatedDiscovery(reg: ResourceRegistry, core: boolean, version: 'v2' | 'v2beta1'): KubeObject {
  const groups = reg.groups().filter((g) => (g.group === '') === core);
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups.map(aggregatedGroup),
  };
}

export function apiVersions(serverAddress: string): KubeObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(g: GroupVersions) {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v.version}`, version: v.version }));
  return { name: g.group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(reg: ResourceRegistry): KubeObject {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: reg
      .groups()
      .filter((g) => g.group !== '')
      .map(apiGroup),
  };
}

export function apiGroupDoc(reg: ResourceRegistry, group: string): KubeObject | undefined {
  const g = reg.groups().find((x) => x.group === group && group !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) } : undefined;
}

export function apiResourceList(reg: ResourceRegistry, group: string, version: string): KubeObject | undefined {
  const kinds = reg.kinds.filter((k) => k.group === group && k.version === version);
  if (kinds.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const k of kinds) {
    resources.push({
      name: k.resource,
      singularName: singularOf(k),
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: verbsOf(k),
      ...(k.shortNames ? { shortNames: k.shortNames } : {}),
      ...(k.categories ? { categories: k.categories } : {}),
    });
    for (const s of k.subresources ?? []) {
      resources.push({
        name: `${k.resource}/${s}`,
        singularName: '',
        namespaced: k.namespaced,
        kind: SUBRESOURCE_INFO[s].kind ?? k.kind,
        verbs: SUBRESOURCE_INFO[s].verbs,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(kinds[0] as ResourceKind), resources };
}
