// Gateway API discovery (protocol.md §5.5), pure: which tunnels the labelled Gateways' TCP and UDP listeners make.
// - A Gateway's TCP listeners count when it matches `tunnels.discovery.tcp.gateway_label`, its UDP listeners when
//   it matches `tunnels.discovery.udp.gateway_label` (a label key means "the label exists"; `k=v`, `k!=v`, `!k`
//   terms, comma-separated, as in a label selector); a protocol whose `enabled` is false is not discovered.
// - Backend: the first backendRef of the first rule of the first (by name) TCPRoute/UDPRoute in the Gateway's
//   namespace whose parentRef names the Gateway and whose sectionName is empty or the listener's name. A listener
//   without one is not registered (upstream registered it with empty names and port 0, which nothing can forward
//   to, and which a registry keeping the service across upstream's service-less syncs could not tell apart).
// - Tunnel id `<tcp|udp>-<cluster_uuid>-<gateway name>-<listener port>`; Gateways of one name in two namespaces
//   would share ids: the first by namespace keeps them, the others are reported as duplicates.
// - Routing mode: annotation `pipeops.io/routing-mode` (direct|tunnel|dual) ▸ force_tunnel_mode ⇒ tunnel ▸
//   private cluster ⇒ tunnel ▸ dual_mode_enabled ⇒ dual ▸ direct; direct or dual without a Gateway address ⇒
//   tunnel (there is nothing to reach directly).
import type { KubeObject } from '../kube/client.ts';
import { matchesSelector, parseLabelSelector } from '../kube/label-selector.ts';
import type { TunnelProtocol, TunnelRegistrationBody, TunnelRoutingMode } from '../protocol/tunnel-registry-messages.ts';

export const ROUTING_MODE_ANNOTATION = 'pipeops.io/routing-mode';
/** Annotations never forwarded to the registry (large, and of no use there). */
const DROPPED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

export interface GatewayObject extends KubeObject {
  spec?: { listeners?: { name?: string; port?: number; protocol?: string }[] };
  status?: { addresses?: { type?: string; value?: string }[] };
}

export interface L4RouteObject extends KubeObject {
  spec?: {
    parentRefs?: { group?: string; kind?: string; name?: string; namespace?: string; sectionName?: string }[];
    rules?: { backendRefs?: { group?: string; kind?: string; name?: string; namespace?: string; port?: number }[] }[];
  };
}

export interface DiscoveryOptions {
  clusterId: string;
  tcp: { enabled: boolean; selector: string };
  udp: { enabled: boolean; selector: string };
  forceTunnel: boolean;
  dualMode: boolean;
  /** The cluster is reachable from the control plane (a LoadBalancer with a public address). */
  clusterPublic: boolean;
}

export const tunnelId = (proto: TunnelProtocol, clusterId: string, gateway: string, port: number) => `${proto}-${clusterId}-${gateway}-${port}`;

function routingMode(gw: GatewayObject, o: DiscoveryOptions, address: string): TunnelRoutingMode {
  const a = (gw.metadata?.annotations as Record<string, string> | undefined)?.[ROUTING_MODE_ANNOTATION];
  let mode: TunnelRoutingMode;
  if (a === 'direct' || a === 'tunnel' || a === 'dual') mode = a;
  else if (o.forceTunnel || !o.clusterPublic) mode = 'tunnel';
  else mode = o.dualMode ? 'dual' : 'direct';
  return mode !== 'tunnel' && address === '' ? 'tunnel' : mode;
}

/** The first IP address in the Gateway's status ("" when none). */
export function gatewayAddress(gw: GatewayObject): string {
  for (const a of gw.status?.addresses ?? []) if ((a.type === undefined || a.type === 'IPAddress') && a.value) return a.value;
  return '';
}

function backendFor(gw: GatewayObject, listener: string, routes: readonly L4RouteObject[]): { name: string; namespace: string; port: number } {
  const ns = gw.metadata?.namespace ?? '';
  const name = gw.metadata?.name ?? '';
  const candidates = routes
    .filter((r) => (r.metadata?.namespace ?? '') === ns)
    .filter((r) =>
      (r.spec?.parentRefs ?? []).some(
        (p) => p.name === name && (p.namespace ?? ns) === ns && (p.kind ?? 'Gateway') === 'Gateway' && (!p.sectionName || p.sectionName === listener),
      ),
    )
    .sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  const ref = candidates[0]?.spec?.rules?.[0]?.backendRefs?.[0];
  if (!ref?.name || (ref.kind ?? 'Service') !== 'Service' || (ref.group ?? '') !== '' || !ref.port) return { name: '', namespace: '', port: 0 };
  return { name: ref.name, namespace: ref.namespace ?? candidates[0]!.metadata?.namespace ?? ns, port: ref.port };
}

export interface DiscoveryResult {
  tunnels: TunnelRegistrationBody[];
  /** Listeners left out because another Gateway of the same name already made their tunnel id. */
  duplicates: string[];
}

/** Every tunnel of the given Gateways, sorted by id. */
export function discoverTunnels(
  gateways: Iterable<GatewayObject>,
  routes: { tcp: readonly L4RouteObject[]; udp: readonly L4RouteObject[] },
  o: DiscoveryOptions,
): DiscoveryResult {
  const selectors = { tcp: parseLabelSelector(o.tcp.selector), udp: parseLabelSelector(o.udp.selector) };
  const out = new Map<string, TunnelRegistrationBody>();
  const duplicates: string[] = [];
  const sorted = [...gateways].sort((a, b) => {
    const ka = `${a.metadata?.namespace ?? ''}/${a.metadata?.name ?? ''}`;
    const kb = `${b.metadata?.namespace ?? ''}/${b.metadata?.name ?? ''}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  for (const gw of sorted) {
    const labels = (gw.metadata?.labels ?? {}) as Record<string, string>;
    const annotations = Object.fromEntries(Object.entries((gw.metadata?.annotations ?? {}) as Record<string, string>).filter(([k]) => !DROPPED_ANNOTATIONS.has(k)));
    const address = gatewayAddress(gw);
    const mode = routingMode(gw, o, address);
    const name = gw.metadata?.name ?? '';
    const ns = gw.metadata?.namespace ?? '';
    for (const l of gw.spec?.listeners ?? []) {
      const proto = l.protocol === 'TCP' ? 'tcp' : l.protocol === 'UDP' ? 'udp' : null;
      if (!proto || !o[proto].enabled || !matchesSelector(labels, selectors[proto])) continue;
      const port = l.port ?? 0;
      if (!Number.isInteger(port) || port < 1 || port > 65535) continue;
      const id = tunnelId(proto, o.clusterId, name, port);
      if (out.has(id)) {
        duplicates.push(`${ns}/${name}:${port}/${proto}`);
        continue;
      }
      const b = backendFor(gw, l.name ?? '', routes[proto]);
      if (b.port === 0) continue;
      out.set(id, {
        cluster_uuid: o.clusterId,
        protocol: proto,
        tunnel_id: id,
        gateway_name: name,
        gateway_namespace: ns,
        gateway_port: port,
        service_name: b.name,
        service_namespace: b.namespace,
        service_port: b.port,
        routing_mode: mode,
        ...(address ? { public_endpoint: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}` } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
        ...(Object.keys(annotations).length ? { annotations } : {}),
      });
    }
  }
  return { tunnels: [...out.values()].sort((a, b) => (a.tunnel_id < b.tunnel_id ? -1 : 1)), duplicates };
}
