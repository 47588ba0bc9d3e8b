// The kinds the sandbox serves. Adding a kind is one entry here; discovery, OpenAPI, CRUD, watch and Table follow.
import { createHash } from 'node:crypto';
import { asArray, asRecord, isPlainObject, type KubeObject, metaOf } from './kube-object.ts';
import type { ResourceKind } from './resource-registry.ts';
import * as p from './table-printers.ts';

/** Stable fake ClusterIP from the service's identity: no allocator state to keep in sync across restores. */
function clusterIpFor(ns: string, name: string): string {
  const h = createHash('sha256').update(`${ns}/${name}`).digest();
  return `10.96.${h[0] ?? 0}.${((h[1] ?? 0) % 253) + 2}`;
}

function defaultService(o: KubeObject): void {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  o.spec = spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  const m = metaOf(o);
  if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
    spec.clusterIP = clusterIpFor(m.namespace ?? '', m.name ?? '');
    spec.clusterIPs = [spec.clusterIP];
  }
  for (const port of asArray(spec.ports)) {
    const pr = asRecord(port);
    pr.protocol ??= 'TCP';
    pr.targetPort ??= pr.port;
  }
  o.status ??= { loadBalancer: {} };
}

function defaultPod(o: KubeObject): void {
  const spec = asRecord(o.spec);
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.serviceAccountName ??= 'default';
  spec.schedulerName ??= 'default-scheduler';
  o.status ??= { phase: 'Pending', qosClass: 'BestEffort' };
}

function defaultNamespace(o: KubeObject): void {
  const m = metaOf(o);
  m.labels = { ...(m.labels ?? {}), 'kubernetes.io/metadata.name': m.name ?? '' };
  o.spec ??= { finalizers: ['kubernetes'] };
  o.status ??= { phase: 'Active' };
}

const ALL = ['all'];
const POD_FIELDS = [
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
];
const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source=source.component',
  'type',
];

export const RESOURCE_KINDS: ResourceKind[] = [
  // core/v1
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    fieldLabels: ['status.phase'],
    printer: p.namespacePrinter,
    defaults: defaultNamespace,
  },
  {
    group: '',
    version: 'v1',
    resource: 'nodes',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status', 'proxy'],
    fieldLabels: ['spec.unschedulable'],
    printer: p.nodePrinter,
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ALL,
    subresources: ['status', 'log', 'exec', 'attach', 'portforward', 'proxy'],
    fieldLabels: POD_FIELDS,
    printer: p.podPrinter,
    defaults: defaultPod,
  },
  {
    group: '',
    version: 'v1',
    resource: 'services',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ALL,
    subresources: ['status', 'proxy'],
    printer: p.servicePrinter,
    defaults: defaultService,
  },
  {
    group: '',
    version: 'v1',
    resource: 'endpoints',
    kind: 'Endpoints',
    namespaced: true,
    shortNames: ['ep'],
    printer: p.endpointsPrinter,
  },
  {
    group: '',
    version: 'v1',
    resource: 'configmaps',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
    printer: p.configMapPrinter,
  },
  {
    group: '',
    version: 'v1',
    resource: 'secrets',
    kind: 'Secret',
    namespaced: true,
    fieldLabels: ['type'],
    printer: p.secretPrinter,
    defaults: (o) => {
      o.type ??= 'Opaque';
    },
  },
  {
    group: '',
    version: 'v1',
    resource: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
    shortNames: ['sa'],
    printer: p.serviceAccountPrinter,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    fieldLabels: EVENT_FIELDS,
    printer: p.eventPrinter,
  },
  // apps/v1
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ALL,
    subresources: ['status'],
    printer: p.deploymentPrinter,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    categories: ALL,
    subresources: ['status'],
    printer: p.replicaSetPrinter,
  },
  // discovery.k8s.io, coordination.k8s.io
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    resource: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
  },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true, printer: p.leasePrinter },
  // networking.k8s.io/v1
  {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'ingresses',
    kind: 'Ingress',
    namespaced: true,
    shortNames: ['ing'],
    subresources: ['status'],
    printer: p.ingressPrinter,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'ingressclasses',
    kind: 'IngressClass',
    namespaced: false,
    printer: p.ingressClassPrinter,
  },
  // Gateway API
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'gatewayclasses',
    kind: 'GatewayClass',
    namespaced: false,
    shortNames: ['gc'],
    categories: ['gateway-api'],
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'gateways',
    kind: 'Gateway',
    namespaced: true,
    shortNames: ['gtw'],
    categories: ['gateway-api'],
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'httproutes',
    kind: 'HTTPRoute',
    namespaced: true,
    categories: ['gateway-api'],
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1alpha2',
    resource: 'tcproutes',
    kind: 'TCPRoute',
    namespaced: true,
    categories: ['gateway-api'],
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1alpha2',
    resource: 'udproutes',
    kind: 'UDPRoute',
    namespaced: true,
    categories: ['gateway-api'],
    subresources: ['status'],
  },
  // Istio serves v1 and v1beta1 of the same objects (one storage, see object-store).
  {
    group: 'networking.istio.io',
    version: 'v1',
    resource: 'gateways',
    kind: 'Gateway',
    namespaced: true,
    shortNames: ['gw'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
  },
  {
    group: 'networking.istio.io',
    version: 'v1',
    resource: 'virtualservices',
    kind: 'VirtualService',
    namespaced: true,
    shortNames: ['vs'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
  },
  {
    group: 'networking.istio.io',
    version: 'v1beta1',
    resource: 'gateways',
    kind: 'Gateway',
    namespaced: true,
    shortNames: ['gw'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
  },
  {
    group: 'networking.istio.io',
    version: 'v1beta1',
    resource: 'virtualservices',
    kind: 'VirtualService',
    namespaced: true,
    shortNames: ['vs'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
  },
  // RBAC and the Prometheus Operator's ServiceMonitor: stored only (no authorizer uses them), so that the Helm
  // chart's rendered manifest can be applied with kubectl (test/packaging).
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
  { group: 'monitoring.coreos.com', version: 'v1', resource: 'servicemonitors', kind: 'ServiceMonitor', namespaced: true, shortNames: ['smon'] },
  // Reviews answered by the server, never stored.
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
    verbs: ['create'],
    virtual: true,
  },
];
