// Cluster type and routing mode (protocol.md §6.1): private clusters are reached through the tunnel, public ones
// with a LoadBalancer address directly. Pure: decides from a Service lookup; the caller owns the wait and its deadline.
import type { KubeService, ServiceLookup } from './kube-shapes.ts';

export type RoutingMode = 'tunnel' | 'direct';

/** Services whose LoadBalancer status tells whether the cluster is reachable from outside, in order. */
export const CLUSTER_TYPE_CANDIDATES: readonly (readonly [string, string])[] = [
  ['pipeops-system', 'traefik'],
  ['ingress-nginx', 'ingress-nginx-controller'],
  ['kube-system', 'traefik'],
  ['traefik', 'traefik'],
  ['kube-system', 'rke2-ingress-nginx-controller'],
];

/** Default time to wait for a LoadBalancer address before calling the cluster private (upstream: 2 min). */
export const DEFAULT_DETECTION_WAIT_MS = 120_000;

export type ClusterClass =
  | { kind: 'private'; reason: string }
  | { kind: 'public'; address: string; service: string }
  /** A LoadBalancer Service exists but has no address yet: wait (until the deadline, then private). */
  | { kind: 'pending'; service: string };

export interface RoutingDecision {
  isPrivate: boolean;
  routingMode: RoutingMode;
  /** `"<lb-ip-or-host>:<port>"` in direct mode, else "". */
  publicEndpoint: string;
  reason: string;
}

function ipv4ToInt(addr: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return null;
  const o = m.slice(1, 5).map(Number);
  if (o.some((x) => x > 255)) return null;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

/** True when `addr` is a dotted IPv4 address inside one of the `a.b.c.d/n` CIDRs. */
export function inCidrs(addr: string, cidrs: readonly string[]): boolean {
  const ip = ipv4ToInt(addr);
  if (ip === null) return false;
  for (const c of cidrs) {
    const [base, bits] = c.split('/');
    const b = ipv4ToInt(base ?? '');
    const n = Number(bits);
    if (b === null || !Number.isInteger(n) || n < 0 || n > 32) continue;
    const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
    if ((ip & mask) >>> 0 === (b & mask) >>> 0) return true;
  }
  return false;
}

/** §6.1's private ranges. */
const PRIVATE_CIDRS = ['10.0.0.0/8', '127.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

/** True for dotted IPv4 addresses in 10/8, 172.16/12, 192.168/16 or 127/8. Host names and IPv6 are not private. */
export function isPrivateAddress(addr: string): boolean {
  return inCidrs(addr, PRIVATE_CIDRS);
}

/** The first LoadBalancer ingress address: IP, else hostname; "" when none yet. */
export function loadBalancerAddress(svc: KubeService): string {
  for (const i of svc.status?.loadBalancer?.ingress ?? []) {
    const a = i.ip || i.hostname;
    if (a) return a;
  }
  return '';
}

/**
 * Classifies by the first existing candidate Service. A private address inside `directCidrs`
 * (tunnels.routing.direct_cidrs) counts as reachable by the control plane, i.e. public.
 */
export function classifyCluster(lookup: ServiceLookup, directCidrs: readonly string[] = []): ClusterClass {
  for (const [ns, name] of CLUSTER_TYPE_CANDIDATES) {
    const svc = lookup(ns, name);
    if (!svc) continue;
    const id = `${ns}/${name}`;
    if (svc.spec?.type !== 'LoadBalancer') return { kind: 'private', reason: `${id} is of type ${svc.spec?.type ?? 'ClusterIP'}, not LoadBalancer` };
    const addr = loadBalancerAddress(svc);
    if (!addr) return { kind: 'pending', service: id };
    if (isPrivateAddress(addr) && !inCidrs(addr, directCidrs)) return { kind: 'private', reason: `${id} has the private LoadBalancer address ${addr}` };
    return { kind: 'public', address: addr, service: id };
  }
  return { kind: 'private', reason: 'no ingress controller Service found' };
}

/** `"<addr>:443"` when a port is https/websecure/443, else `":80"` when http/web/80, else the first port. */
export function endpointFor(svc: KubeService, address: string): string {
  const ports = (svc.spec?.ports ?? []).filter((p) => typeof p.port === 'number' && p.port > 0);
  if (ports.some((p) => p.name === 'https' || p.name === 'websecure' || p.port === 443)) return `${address}:443`;
  if (ports.some((p) => p.name === 'http' || p.name === 'web' || p.port === 80)) return `${address}:80`;
  return ports[0] ? `${address}:${ports[0].port}` : '';
}

/** The direct-mode endpoint: the first candidate LoadBalancer with an address and a port. "" when none. */
export function publicEndpoint(lookup: ServiceLookup): string {
  for (const [ns, name] of CLUSTER_TYPE_CANDIDATES) {
    const svc = lookup(ns, name);
    if (svc?.spec?.type !== 'LoadBalancer') continue;
    const addr = loadBalancerAddress(svc);
    const ep = addr ? endpointFor(svc, addr) : '';
    if (ep) return ep;
  }
  return '';
}

const TUNNEL_PRIVATE = (reason: string): RoutingDecision => ({ isPrivate: true, routingMode: 'tunnel', publicEndpoint: '', reason });

/**
 * The routing decision, or null while a LoadBalancer address is awaited and `waitExpired` is false.
 * `forceTunnel` (tunnels.routing.force_tunnel_mode) skips detection.
 */
export function decideRouting(opts: { forceTunnel: boolean; lookup: ServiceLookup; waitExpired: boolean; directCidrs?: readonly string[] }): RoutingDecision | null {
  if (opts.forceTunnel) return TUNNEL_PRIVATE('tunnels.routing.force_tunnel_mode is set');
  const cidrs = opts.directCidrs ?? [];
  const c = classifyCluster(opts.lookup, cidrs);
  switch (c.kind) {
    case 'private':
      return TUNNEL_PRIVATE(c.reason);
    case 'pending':
      return opts.waitExpired ? TUNNEL_PRIVATE(`${c.service} got no LoadBalancer address in time`) : null;
    case 'public': {
      const ep = publicEndpoint(opts.lookup);
      return ep
        ? {
            isPrivate: false,
            routingMode: 'direct',
            publicEndpoint: ep,
            reason: isPrivateAddress(c.address) ? `${c.service} has the address ${c.address}, inside tunnels.routing.direct_cidrs` : `${c.service} has the public address ${c.address}`,
          }
        : { isPrivate: false, routingMode: 'tunnel', publicEndpoint: '', reason: `${c.service} is public but has no usable port` };
    }
  }
}
