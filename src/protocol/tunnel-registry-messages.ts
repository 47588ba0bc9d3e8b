// Wire bodies of the control plane's L4 tunnel registry (protocol.md §1.2). Agent → control plane under
// `{api_url}/api/v1/clusters/agent/{cluster_uuid}/tunnels`: register (POST, 200/201, answered with the registration
// plus `tunnel_port`/`tunnel_endpoint`), sync (POST …/sync, 200, `{accepted, rejected}`), deregister
// (DELETE …/{tunnel_id}, 200/204), list (GET, an array). The schemas are the types and let the hub validate bodies.
import { z } from 'zod';

export const TUNNELS_PATH = (clusterUuid: string) => `/api/v1/clusters/agent/${encodeURIComponent(clusterUuid)}/tunnels`;

export const TUNNEL_PROTOCOLS = ['tcp', 'udp'] as const;
export type TunnelProtocol = (typeof TUNNEL_PROTOCOLS)[number];
export const TUNNEL_ROUTING_MODES = ['direct', 'tunnel', 'dual'] as const;
export type TunnelRoutingMode = (typeof TUNNEL_ROUTING_MODES)[number];

/**
 * One listener of a discovered Gateway. Upstream's sync bodies send the service fields as `""`/`0` and omit
 * labels/annotations; this agent fills them in sync too.
 */
export const TunnelRegistrationSchema = z.object({
  cluster_uuid: z.string().optional(),
  protocol: z.string(),
  tunnel_id: z.string(),
  gateway_name: z.string(),
  gateway_namespace: z.string(),
  gateway_port: z.number().int(),
  service_name: z.string().optional(),
  service_namespace: z.string().optional(),
  service_port: z.number().int().optional(),
  routing_mode: z.string().optional(),
  public_endpoint: z.string().optional(),
  tunnel_port: z.number().int().optional(),
  tunnel_endpoint: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type TunnelRegistrationBody = z.infer<typeof TunnelRegistrationSchema>;

/** `sync`: the cluster's complete tunnel set. */
export const SyncTunnelsSchema = z.object({
  cluster_uuid: z.string().optional(),
  tunnels: z.array(TunnelRegistrationSchema).nullable(),
});
export type SyncTunnelsBody = z.infer<typeof SyncTunnelsSchema>;

export const SyncTunnelsAnswerSchema = z.object({
  accepted: z.array(TunnelRegistrationSchema).nullable().optional(),
  rejected: z.array(z.object({ tunnel_id: z.string(), reason: z.string() })).nullable().optional(),
});
export type SyncTunnelsAnswer = z.infer<typeof SyncTunnelsAnswerSchema>;
