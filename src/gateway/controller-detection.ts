// Which Service is the cluster's ingress controller (protocol.md §6.2): the target of every route reported to the
// control plane and the tunnel's default HTTP target. Pure: works on a Service lookup and a Service list.
import type { KubeService, ServiceLookup, ServicePort } from './kube-shapes.ts';

export type ControllerType = 'traefik' | 'nginx' | 'unknown';

export interface IngressController {
  namespace: string;
  name: string;
  port: number;
  type: ControllerType;
}

/** Well-known controller Services, in the order they are tried. */
export const CONTROLLER_CANDIDATES: readonly (readonly [string, string])[] = [
  ['pipeops-system', 'traefik'],
  ['ingress-nginx', 'ingress-nginx-controller'],
  ['kube-system', 'rke2-ingress-nginx-controller'],
  ['kube-system', 'traefik'],
  ['traefik', 'traefik'],
];

/** Where, and by which labels, controllers are searched when no candidate qualifies. */
export const CONTROLLER_LABEL_NAMESPACES = ['kube-system', 'traefik', 'ingress-nginx', 'default'] as const;
export const CONTROLLER_LABELS: readonly (readonly [string, string])[] = [
  ['app.kubernetes.io/name', 'traefik'],
  ['app.kubernetes.io/name', 'ingress-nginx'],
  ['k8s-app', 'traefik-ingress-lb'],
];

const isHttp = (p: ServicePort) => p.name === 'http' || p.name === 'web' || p.port === 80;
const isHttps = (p: ServicePort) => p.name === 'https' || p.name === 'websecure' || p.port === 443;

/** The HTTP port routes should use: first `http`/`web`/80, else first `https`/`websecure`/443; null: not a controller. */
export function controllerPort(svc: KubeService): number | null {
  const ports = (svc.spec?.ports ?? []).filter((p) => typeof p.port === 'number' && p.port > 0);
  const p = ports.find(isHttp) ?? ports.find(isHttps);
  return p?.port ?? null;
}

/** `type` of the bulk sync's `ingress_controller`: a substring match on the Service name (§1.1.2). */
export function controllerType(name: string): ControllerType {
  if (name.includes('traefik')) return 'traefik';
  if (name.includes('nginx')) return 'nginx';
  return 'unknown';
}

function toController(svc: KubeService): IngressController | null {
  const port = controllerPort(svc);
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  return port === null || !name ? null : { namespace, name, port, type: controllerType(name) };
}

/**
 * The ingress controller Service: the first qualifying candidate, else the first qualifying Service found by label
 * (namespaces and labels in the documented order, Services by name within one namespace). null: none.
 */
export function detectController(lookup: ServiceLookup, all: Iterable<KubeService>): IngressController | null {
  for (const [ns, name] of CONTROLLER_CANDIDATES) {
    const svc = lookup(ns, name);
    const c = svc ? toController(svc) : null;
    if (c) return c;
  }
  const list = [...all];
  for (const ns of CONTROLLER_LABEL_NAMESPACES) {
    const inNs = list.filter((s) => s.metadata?.namespace === ns).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    for (const [k, v] of CONTROLLER_LABELS) {
      for (const svc of inNs) {
        if (svc.metadata?.labels?.[k] !== v) continue;
        const c = toController(svc);
        if (c) return c;
      }
    }
  }
  return null;
}
