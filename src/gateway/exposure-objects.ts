// The exposure objects the agent wants (issue 13 item 4, product-gateway-l4.md), computed from the `gateway.*`
// block: an Istio Gateway + VirtualService (TCP and TLS routes) and/or a Gateway API Gateway + TCPRoutes/UDPRoutes.
// Pure. Every object carries the ownership labels; only objects with them are ever changed or removed.
import type { GatewayConfig } from '../config/exposure-schema.ts';
import type { KubeObject } from '../kube/client.ts';

/** Server-side apply field manager of every exposure object. */
export const EXPOSURE_FIELD_MANAGER = 'pipeops-agent';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'pipeops-agent';
export const COMPONENT_LABEL = 'pipeops.io/component';
export const COMPONENT_VALUE = 'exposure';
/** Selects every object the agent owns as exposure (any release name). */
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${COMPONENT_LABEL}=${COMPONENT_VALUE}`;
export const RELEASE_LABEL = 'pipeops.io/exposure';
/** On the Gateway API Gateway: the default `tunnels.discovery.*.gateway_label`, so that with `tunnels.enabled` its
 * listeners are registered with the control plane (§5.5) and reachable through the hub. */
const DISCOVERY_LABEL = { 'pipeops.io/managed': 'true' };

export interface ExposureKind {
  group: string;
  version: string;
  resource: string;
  kind: string;
  /** Which config family wants it (for log messages). */
  family: 'gateway_api' | 'istio';
}

export const EXPOSURE_KINDS = {
  gateway: { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gateways', kind: 'Gateway', family: 'gateway_api' },
  tcpRoute: { group: 'gateway.networking.k8s.io', version: 'v1alpha2', resource: 'tcproutes', kind: 'TCPRoute', family: 'gateway_api' },
  udpRoute: { group: 'gateway.networking.k8s.io', version: 'v1alpha2', resource: 'udproutes', kind: 'UDPRoute', family: 'gateway_api' },
  istioGateway: { group: 'networking.istio.io', version: 'v1', resource: 'gateways', kind: 'Gateway', family: 'istio' },
  virtualService: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices', kind: 'VirtualService', family: 'istio' },
} as const satisfies Record<string, ExposureKind>;

export const ALL_EXPOSURE_KINDS: readonly ExposureKind[] = Object.values(EXPOSURE_KINDS);

export interface DesiredObject {
  kind: ExposureKind;
  namespace: string;
  name: string;
  body: KubeObject;
}

/** The environment after detection: single-vm puts the VM's IP on the Gateway API Gateway. */
export interface ExposureEnvironment {
  mode: 'managed' | 'single-vm';
  vmIp: string;
}

export const objectId = (k: ExposureKind, namespace: string, name: string) => `${k.group}/${k.kind} ${namespace}/${name}`;

export function collectionPath(k: ExposureKind, namespace?: string): string {
  return `/apis/${k.group}/${k.version}${namespace ? `/namespaces/${namespace}` : ''}/${k.resource}`;
}

export function objectPath(k: ExposureKind, namespace: string, name: string): string {
  return `${collectionPath(k, namespace)}/${encodeURIComponent(name)}`;
}

/** Everything `g` asks for; empty when `gateway.enabled` is false. */
export function desiredObjects(g: GatewayConfig, env: ExposureEnvironment): DesiredObject[] {
  if (!g.enabled) return [];
  const ns = g.namespace;
  const out: DesiredObject[] = [];
  const meta = (name: string) => ({
    name,
    namespace: ns,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [COMPONENT_LABEL]: COMPONENT_VALUE, [RELEASE_LABEL]: g.release_name },
  });
  const add = (kind: ExposureKind, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) => {
    const m = meta(name);
    out.push({ kind, namespace: ns, name, body: { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata: { ...m, labels: { ...m.labels, ...labels } }, spec } });
  };

  const api = g.gateway_api;
  if (api.enabled) {
    add(EXPOSURE_KINDS.gateway, g.release_name, {
      gatewayClassName: api.gateway_class,
      listeners: api.listeners.map((l) => ({ name: l.name, port: l.port, protocol: l.protocol, allowedRoutes: { namespaces: { from: 'Same' } } })),
      ...(env.mode === 'single-vm' && env.vmIp ? { addresses: [{ type: 'IPAddress', value: env.vmIp }] } : {}),
    }, DISCOVERY_LABEL);
    for (const [key, kind] of [['tcp_routes', EXPOSURE_KINDS.tcpRoute], ['udp_routes', EXPOSURE_KINDS.udpRoute]] as const) {
      for (const r of api[key]) {
        add(kind, r.name, {
          parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: g.release_name, sectionName: r.section_name }],
          rules: [{ backendRefs: r.backend_refs.map((b) => ({ name: b.name, ...(b.namespace ? { namespace: b.namespace } : {}), port: b.port })) }],
        });
      }
    }
  }

  const istio = g.istio;
  if (istio.enabled) {
    add(EXPOSURE_KINDS.istioGateway, g.release_name, {
      selector: istio.gateway.selector,
      servers: istio.gateway.servers.map((s) => ({
        port: { number: s.port.number, name: s.port.name, protocol: s.port.protocol },
        hosts: s.hosts && s.hosts.length > 0 ? s.hosts : ['*'],
        ...(s.tls ? { tls: s.tls } : {}),
      })),
    });
    const vs = istio.virtual_service;
    // Istio refuses a VirtualService without any route.
    if (vs.tcp_routes.length + vs.tls_routes.length > 0) {
      const route = (d: { host: string; port: number }) => [{ destination: { host: d.host, port: { number: d.port } } }];
      add(EXPOSURE_KINDS.virtualService, g.release_name, {
        hosts: ['*'],
        gateways: [`${ns}/${g.release_name}`],
        ...(vs.tcp_routes.length ? { tcp: vs.tcp_routes.map((r) => ({ match: [{ port: r.port }], route: route(r.destination) })) } : {}),
        ...(vs.tls_routes.length
          ? {
              tls: vs.tls_routes.map((r) => ({ match: [{ ...(r.port ? { port: r.port } : {}), sniHosts: r.sni_hosts }], route: route(r.destination) })),
            }
          : {}),
      });
    }
  }
  return out;
}

/** The kinds the agent lists to find what it owns: both families whenever exposure is enabled (so that a family
 * switched off is cleaned up), none when it is disabled. */
export function watchedKinds(g: GatewayConfig): readonly ExposureKind[] {
  return g.enabled ? ALL_EXPOSURE_KINDS : [];
}

/** Whether an object carries the ownership labels. */
export function isOwned(o: KubeObject): boolean {
  const l = (o.metadata?.labels ?? {}) as Record<string, string>;
  return l[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && l[COMPONENT_LABEL] === COMPONENT_VALUE;
}

/** Environment mode from config, or detected from the nodes: one node, or k3s, is a single VM. */
export function decideEnvironment(
  g: GatewayConfig,
  nodes: readonly { addresses: { type: string; address: string }[]; kubeletVersion: string }[] | null,
): ExposureEnvironment & { detected: boolean } {
  const configured = g.environment.mode;
  const single = configured === 'single-vm' || (configured === '' && nodes !== null && (nodes.length === 1 || nodes.some((n) => n.kubeletVersion.includes('k3s'))));
  if (!single) return { mode: 'managed', vmIp: '', detected: configured === '' };
  let ip = g.environment.vm_ip;
  if (!ip && nodes?.length) {
    const addrs = nodes[0]!.addresses;
    ip = addrs.find((a) => a.type === 'ExternalIP')?.address ?? addrs.find((a) => a.type === 'InternalIP')?.address ?? '';
  }
  return { mode: 'single-vm', vmIp: ip, detected: configured === '' };
}
