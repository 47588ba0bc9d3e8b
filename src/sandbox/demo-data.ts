// The sandbox cluster's seed: `minimal` is the namespaces every cluster has plus the `kubernetes` Service;
// `demo` adds two nodes, system and app pods with logs, the Traefik ingress controller and a demo app with an Ingress.
import type { KubeObject } from './kube-object.ts';
import { rfc3339Seconds } from './object-store.ts';

export interface SeedLog {
  namespace: string;
  pod: string;
  container: string;
  lines: string[];
}

export interface Seed {
  objects: KubeObject[];
  logs: SeedLog[];
}

const DAY = 86_400_000;
const ago = (ms: number) => rfc3339Seconds(Date.now() - ms);

function namespace(name: string, age = 3 * DAY): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, creationTimestamp: ago(age) } };
}

export function minimalSeed(): Seed {
  return {
    objects: [
      ...['default', 'kube-system', 'kube-public', 'kube-node-lease'].map((n) => namespace(n)),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' }, creationTimestamp: ago(3 * DAY) },
        spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
      },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'default', creationTimestamp: ago(3 * DAY) } },
    ],
    logs: [],
  };
}

function node(name: string, ip: string, role: string | undefined, zone: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      creationTimestamp: ago(3 * DAY),
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/region': 'eu-west-1',
        'topology.kubernetes.io/zone': zone,
        ...(role ? { [`node-role.kubernetes.io/${role}`]: '' } : {}),
      },
    },
    spec: { providerID: `aws:///${zone}/i-0${name.replace(/\D/g, '')}a1b2c3d4e5f6`, podCIDR: `10.244.${name.replace(/\D/g, '')}.0/24` },
    status: {
      capacity: { cpu: '4', memory: '16331876Ki', pods: '110', 'ephemeral-storage': '102687672Ki' },
      allocatable: { cpu: '4', memory: '16229476Ki', pods: '110', 'ephemeral-storage': '94636958627' },
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory' },
        { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure' },
        { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID' },
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
      ],
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.0',
        kubeProxyVersion: 'v1.32.0',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        kernelVersion: '6.1.0-28-amd64',
        containerRuntimeVersion: 'containerd://1.7.24',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

interface PodSpec {
  ns: string;
  name: string;
  node: string;
  ip: string;
  containers: { name: string; image: string; ports?: number[] }[];
  labels?: Record<string, string>;
  restarts?: number;
}

function pod(p: PodSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.ns, labels: p.labels ?? {}, creationTimestamp: ago(2 * DAY) },
    spec: {
      nodeName: p.node,
      containers: p.containers.map((c) => ({
        name: c.name,
        image: c.image,
        ...(c.ports ? { ports: c.ports.map((port) => ({ containerPort: port, protocol: 'TCP' })) } : {}),
      })),
    },
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      hostIP: '10.0.0.11',
      startTime: ago(2 * DAY),
      qosClass: 'BestEffort',
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: 'True' },
        { type: 'ContainersReady', status: 'True' },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: p.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
        ready: true,
        started: true,
        restartCount: p.restarts ?? 0,
        state: { running: { startedAt: ago(2 * DAY) } },
      })),
    },
  };
}

function service(ns: string, name: string, selector: Record<string, string>, ports: { name: string; port: number; targetPort: number }[], clusterIP: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, creationTimestamp: ago(2 * DAY), labels: selector },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      selector,
      ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
    },
  };
}

export function demoSeed(): Seed {
  const base = minimalSeed();
  const hello = { app: 'hello' };
  const objects: KubeObject[] = [
    ...base.objects,
    namespace('pipeops-system', 2 * DAY),
    namespace('demo', 2 * DAY),
    node('node-1', '10.0.0.11', 'control-plane', 'eu-west-1a'),
    node('node-2', '10.0.0.12', undefined, 'eu-west-1b'),
    pod({ ns: 'kube-system', name: 'coredns-6f6b679f8f-x7k2p', node: 'node-1', ip: '10.244.1.2', labels: { 'k8s-app': 'kube-dns' }, containers: [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.3', ports: [53] }] }),
    pod({ ns: 'pipeops-system', name: 'traefik-5d8f9c7b6-q4w8z', node: 'node-1', ip: '10.244.1.5', labels: { 'app.kubernetes.io/name': 'traefik' }, containers: [{ name: 'traefik', image: 'traefik:v3.2.1', ports: [8000, 8443] }] }),
    pod({
      ns: 'pipeops-system',
      name: 'pipeops-agent-7c9d8b5f4-m2n3b',
      node: 'node-2',
      ip: '10.244.2.7',
      labels: { 'app.kubernetes.io/name': 'pipeops-agent' },
      containers: [
        { name: 'agent', image: 'ghcr.io/pipeops/agent:0.1.0', ports: [8080] },
        { name: 'log-shipper', image: 'fluent/fluent-bit:3.2' },
      ],
      restarts: 1,
    }),
    ...['hello-6d9f7c8b5-abcde', 'hello-6d9f7c8b5-fghij'].map((name, i) =>
      pod({ ns: 'demo', name, node: i === 0 ? 'node-1' : 'node-2', ip: `10.244.${i + 1}.${20 + i}`, labels: { ...hello, 'pod-template-hash': '6d9f7c8b5' }, containers: [{ name: 'hello', image: 'nginxdemos/hello:0.4', ports: [80] }] }),
    ),
    service('pipeops-system', 'traefik', { 'app.kubernetes.io/name': 'traefik' }, [
      { name: 'web', port: 80, targetPort: 8000 },
      { name: 'websecure', port: 443, targetPort: 8443 },
    ], '10.96.100.10'),
    service('demo', 'hello', hello, [{ name: 'http', port: 80, targetPort: 80 }], '10.96.120.7'),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'hello', namespace: 'demo', labels: hello, creationTimestamp: ago(2 * DAY) },
      spec: {
        replicas: 2,
        selector: { matchLabels: hello },
        template: { metadata: { labels: hello }, spec: { containers: [{ name: 'hello', image: 'nginxdemos/hello:0.4', ports: [{ containerPort: 80 }] }] } },
      },
      status: { observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'traefik', creationTimestamp: ago(2 * DAY), annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: 'traefik.io/ingress-controller' },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'hello', namespace: 'demo', labels: { 'pipeops.io/managed': 'true' }, creationTimestamp: ago(2 * DAY) },
      spec: {
        ingressClassName: 'traefik',
        rules: [{ host: 'hello.demo.local', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'hello', port: { number: 80 } } } }] } }],
      },
      status: { loadBalancer: { ingress: [{ ip: '10.96.100.10' }] } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'pipeops-agent', namespace: 'pipeops-system', creationTimestamp: ago(2 * DAY) } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hello-config', namespace: 'demo', creationTimestamp: ago(2 * DAY) }, data: { GREETING: 'hello from the sandbox' } },
  ];
  const logs: SeedLog[] = [
    { namespace: 'kube-system', pod: 'coredns-6f6b679f8f-x7k2p', container: 'coredns', lines: ['.:53', 'CoreDNS-1.11.3', 'linux/amd64, go1.21.11, a6338e9'] },
    { namespace: 'pipeops-system', pod: 'traefik-5d8f9c7b6-q4w8z', container: 'traefik', lines: ['time="2025-01-01T00:00:00Z" level=info msg="Traefik version 3.2.1 built on 2024-11-20"', 'time="2025-01-01T00:00:01Z" level=info msg="Starting provider *ingress.Provider"'] },
    { namespace: 'pipeops-system', pod: 'pipeops-agent-7c9d8b5f4-m2n3b', container: 'agent', lines: ['{"level":"info","msg":"agent starting"}', '{"level":"info","msg":"tunnel connected"}'] },
    { namespace: 'pipeops-system', pod: 'pipeops-agent-7c9d8b5f4-m2n3b', container: 'log-shipper', lines: ['[info] [fluent bit] version=3.2.0', '[info] [output:stdout:stdout.0] worker #0 started'] },
    ...['hello-6d9f7c8b5-abcde', 'hello-6d9f7c8b5-fghij'].map((pod) => ({
      namespace: 'demo',
      pod,
      container: 'hello',
      lines: ['/docker-entrypoint.sh: Configuration complete; ready for start up', '10.244.1.5 - - "GET / HTTP/1.1" 200 7234 "-" "curl/8.5.0"'],
    })),
  ];
  return { objects, logs };
}
