// The parts of Service and Ingress objects the gateway code reads (networking.k8s.io/v1, core/v1). Plain types only.
import type { KubeObject } from '../kube/client.ts';

export interface ServicePort {
  name?: string;
  port?: number;
  protocol?: string;
}

export interface KubeService extends KubeObject {
  spec?: { type?: string; ports?: ServicePort[]; selector?: Record<string, string> };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface IngressBackend {
  service?: { name?: string; port?: { number?: number; name?: string } };
  resource?: unknown;
}

export interface IngressPath {
  path?: string;
  pathType?: string;
  backend?: IngressBackend;
}

export interface IngressRule {
  host?: string;
  http?: { paths?: IngressPath[] };
}

export interface KubeIngress extends KubeObject {
  spec?: { ingressClassName?: string; rules?: IngressRule[]; tls?: { hosts?: string[]; secretName?: string }[] };
}

/** Service lookup by namespace and name (an informer cache, or a map in tests). */
export type ServiceLookup = (namespace: string, name: string) => KubeService | undefined;

/** A Service the agent points routes or the tunnel at. */
export interface ServiceRef {
  namespace: string;
  name: string;
  port: number;
}

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
