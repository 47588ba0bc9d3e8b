// Server-side printers for `Accept: …;as=Table`: the columns kubectl shows, ported from kubernetes' printers.go.
import { ageOf } from './human-duration.ts';
import { asArray, asRecord, asString, type KubeObject, metaOf, readPath } from './kube-object.ts';

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

export interface TablePrinter {
  columns: TableColumn[];
  cells(obj: KubeObject, now: number): unknown[];
}

function col(name: string, priority = 0, type: TableColumn['type'] = 'string', format = ''): TableColumn {
  return { name, type, format, description: '', priority };
}

const NAME = col('Name', 0, 'string', 'name');
const AGE = col('Age');
const NONE = '<none>';

const nameOf = (o: KubeObject) => metaOf(o).name ?? '';
const age = (o: KubeObject, now: number) => ageOf(metaOf(o).creationTimestamp, now);
const orNone = (s: string) => (s === '' ? NONE : s);

export const defaultPrinter: TablePrinter = {
  columns: [NAME, AGE],
  cells: (o, now) => [nameOf(o), age(o, now)],
};

export const namespacePrinter: TablePrinter = {
  columns: [NAME, col('Status'), AGE],
  cells: (o, now) => [nameOf(o), asString(readPath(o, 'status.phase'), 'Active'), age(o, now)],
};

function nodeStatus(o: KubeObject): string {
  const ready = asArray(readPath(o, 'status.conditions')).find((c) => asRecord(c).type === 'Ready');
  let s = ready === undefined ? 'Unknown' : asRecord(ready).status === 'True' ? 'Ready' : 'NotReady';
  if (readPath(o, 'spec.unschedulable') === true) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(o: KubeObject): string {
  const roles = Object.keys(metaOf(o).labels ?? {})
    .filter((l) => l.startsWith('node-role.kubernetes.io/'))
    .map((l) => l.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '');
  return orNone(roles.sort().join(','));
}

function nodeAddress(o: KubeObject, type: string): string {
  const a = asArray(readPath(o, 'status.addresses')).find((x) => asRecord(x).type === type);
  return orNone(asString(asRecord(a).address));
}

export const nodePrinter: TablePrinter = {
  columns: [
    NAME,
    col('Status'),
    col('Roles'),
    AGE,
    col('Version'),
    col('Internal-IP', 1),
    col('External-IP', 1),
    col('OS-Image', 1),
    col('Kernel-Version', 1),
    col('Container-Runtime', 1),
  ],
  cells: (o, now) => [
    nameOf(o),
    nodeStatus(o),
    nodeRoles(o),
    age(o, now),
    asString(readPath(o, 'status.nodeInfo.kubeletVersion')),
    nodeAddress(o, 'InternalIP'),
    nodeAddress(o, 'ExternalIP'),
    orNone(asString(readPath(o, 'status.nodeInfo.osImage'))),
    orNone(asString(readPath(o, 'status.nodeInfo.kernelVersion'))),
    orNone(asString(readPath(o, 'status.nodeInfo.containerRuntimeVersion'))),
  ],
};

/** The STATUS column: phase, overridden by a container's waiting/terminated reason, like kubectl. */
export function podStatusReason(o: KubeObject): string {
  let reason = asString(readPath(o, 'status.reason')) || asString(readPath(o, 'status.phase'), 'Pending');
  for (const cs of asArray(readPath(o, 'status.containerStatuses'))) {
    const state = asRecord(asRecord(cs).state);
    const waiting = asString(asRecord(state.waiting).reason);
    const terminated = asRecord(state.terminated);
    if (waiting) reason = waiting;
    else if (asString(terminated.reason)) reason = asString(terminated.reason);
    else if (state.terminated) reason = `ExitCode:${Number(terminated.exitCode ?? 0)}`;
  }
  if (metaOf(o).deletionTimestamp) reason = 'Terminating';
  return reason;
}

export const podPrinter: TablePrinter = {
  columns: [
    NAME,
    col('Ready'),
    col('Status'),
    col('Restarts', 0, 'string'),
    AGE,
    col('IP', 1),
    col('Node', 1),
    col('Nominated Node', 1),
    col('Readiness Gates', 1),
  ],
  cells: (o, now) => {
    const statuses = asArray(readPath(o, 'status.containerStatuses')).map(asRecord);
    const total = asArray(readPath(o, 'spec.containers')).length;
    const ready = statuses.filter((s) => s.ready === true).length;
    const restarts = statuses.reduce((n, s) => n + Number(s.restartCount ?? 0), 0);
    return [
      nameOf(o),
      `${ready}/${total}`,
      podStatusReason(o),
      String(restarts),
      age(o, now),
      orNone(asString(readPath(o, 'status.podIP'))),
      orNone(asString(readPath(o, 'spec.nodeName'))),
      orNone(asString(readPath(o, 'status.nominatedNodeName'))),
      NONE,
    ];
  },
};

function servicePorts(o: KubeObject): string {
  const ports = asArray(readPath(o, 'spec.ports')).map(asRecord);
  if (ports.length === 0) return NONE;
  return ports
    .map((p) => {
      const proto = asString(p.protocol, 'TCP');
      return p.nodePort ? `${p.port}:${p.nodePort}/${proto}` : `${p.port}/${proto}`;
    })
    .join(',');
}

function serviceExternalIp(o: KubeObject): string {
  const type = asString(readPath(o, 'spec.type'), 'ClusterIP');
  const external = asArray(readPath(o, 'spec.externalIPs')).map((x) => asString(x));
  if (type === 'ExternalName') return asString(readPath(o, 'spec.externalName'));
  if (type === 'LoadBalancer') {
    const lb = asArray(readPath(o, 'status.loadBalancer.ingress')).map(
      (i) => asString(asRecord(i).ip) || asString(asRecord(i).hostname),
    );
    const all = [...lb, ...external];
    return all.length > 0 ? all.join(',') : '<pending>';
  }
  return orNone(external.join(','));
}

function selectorText(sel: unknown): string {
  return orNone(
    Object.entries(asRecord(sel))
      .map(([k, v]) => `${k}=${asString(v)}`)
      .join(','),
  );
}

export const servicePrinter: TablePrinter = {
  columns: [
    NAME,
    col('Type'),
    col('Cluster-IP'),
    col('External-IP'),
    col('Port(s)'),
    AGE,
    col('Selector', 1),
  ],
  cells: (o, now) => [
    nameOf(o),
    asString(readPath(o, 'spec.type'), 'ClusterIP'),
    orNone(asString(readPath(o, 'spec.clusterIP'))),
    serviceExternalIp(o),
    servicePorts(o),
    age(o, now),
    selectorText(readPath(o, 'spec.selector')),
  ],
};

export const ingressPrinter: TablePrinter = {
  columns: [NAME, col('Class'), col('Hosts'), col('Address'), col('Ports'), AGE],
  cells: (o, now) => {
    const hosts = asArray(readPath(o, 'spec.rules')).map((r) => asString(asRecord(r).host) || '*');
    const address = asArray(readPath(o, 'status.loadBalancer.ingress')).map(
      (i) => asString(asRecord(i).ip) || asString(asRecord(i).hostname),
    );
    const tls = asArray(readPath(o, 'spec.tls')).length > 0;
    return [
      nameOf(o),
      orNone(asString(readPath(o, 'spec.ingressClassName'))),
      hosts.length > 0 ? hosts.join(',') : '*',
      address.join(','),
      tls ? '80, 443' : '80',
      age(o, now),
    ];
  },
};

export const ingressClassPrinter: TablePrinter = {
  columns: [NAME, col('Controller'), col('Parameters'), AGE],
  cells: (o, now) => [nameOf(o), asString(readPath(o, 'spec.controller')), NONE, age(o, now)],
};

function containerList(o: KubeObject, field: 'name' | 'image'): string {
  return asArray(readPath(o, 'spec.template.spec.containers'))
    .map((c) => asString(asRecord(c)[field]))
    .join(',');
}

function labelSelectorText(o: KubeObject): string {
  return selectorText(readPath(o, 'spec.selector.matchLabels'));
}

export const deploymentPrinter: TablePrinter = {
  columns: [
    NAME,
    col('Ready'),
    col('Up-to-date', 0, 'integer'),
    col('Available', 0, 'integer'),
    AGE,
    col('Containers', 1),
    col('Images', 1),
    col('Selector', 1),
  ],
  cells: (o, now) => [
    nameOf(o),
    `${Number(readPath(o, 'status.readyReplicas') ?? 0)}/${Number(readPath(o, 'spec.replicas') ?? 1)}`,
    Number(readPath(o, 'status.updatedReplicas') ?? 0),
    Number(readPath(o, 'status.availableReplicas') ?? 0),
    age(o, now),
    containerList(o, 'name'),
    containerList(o, 'image'),
    labelSelectorText(o),
  ],
};

export const replicaSetPrinter: TablePrinter = {
  columns: [NAME, col('Desired', 0, 'integer'), col('Current', 0, 'integer'), col('Ready', 0, 'integer'), AGE],
  cells: (o, now) => [
    nameOf(o),
    Number(readPath(o, 'spec.replicas') ?? 1),
    Number(readPath(o, 'status.replicas') ?? 0),
    Number(readPath(o, 'status.readyReplicas') ?? 0),
    age(o, now),
  ],
};

const dataCount = (o: KubeObject) =>
  Object.keys(asRecord(o.data)).length + Object.keys(asRecord(o.binaryData)).length;

export const configMapPrinter: TablePrinter = {
  columns: [NAME, col('Data', 0, 'string'), AGE],
  cells: (o, now) => [nameOf(o), dataCount(o), age(o, now)],
};

export const secretPrinter: TablePrinter = {
  columns: [NAME, col('Type'), col('Data', 0, 'integer'), AGE],
  cells: (o, now) => [nameOf(o), asString(o.type, 'Opaque'), dataCount(o), age(o, now)],
};

export const serviceAccountPrinter: TablePrinter = {
  columns: [NAME, col('Secrets', 0, 'integer'), AGE],
  cells: (o, now) => [nameOf(o), asArray(o.secrets).length, age(o, now)],
};

export const endpointsPrinter: TablePrinter = {
  columns: [NAME, col('Endpoints'), AGE],
  cells: (o, now) => {
    const eps: string[] = [];
    for (const s of asArray(o.subsets).map(asRecord)) {
      const ports = asArray(s.ports).map((p) => Number(asRecord(p).port));
      for (const a of asArray(s.addresses)) {
        const ip = asString(asRecord(a).ip);
        if (ports.length === 0) eps.push(ip);
        for (const p of ports) eps.push(`${ip}:${p}`);
      }
    }
    return [nameOf(o), orNone(eps.join(',')), age(o, now)];
  },
};

export const leasePrinter: TablePrinter = {
  columns: [NAME, col('Holder'), AGE],
  cells: (o, now) => [nameOf(o), asString(readPath(o, 'spec.holderIdentity')), age(o, now)],
};

export const eventPrinter: TablePrinter = {
  columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message')],
  cells: (o, now) => [
    ageOf(o.lastTimestamp ?? o.eventTime ?? metaOf(o).creationTimestamp, now),
    asString(o.type),
    asString(o.reason),
    `${asString(readPath(o, 'involvedObject.kind')).toLowerCase()}/${asString(readPath(o, 'involvedObject.name'))}`,
    asString(o.message),
  ],
};
