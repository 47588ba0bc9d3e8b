// Session-level control messages: registration, heartbeat, liveness, errors, fallback (protocol.md §2.4–2.7, §7).
// Proxy and stream messages live in their own modules. Each schema validates what the receiver may assume.
import { z } from 'zod';

/** Agent → controller. `request_id` = `req_<unix-nanos>_<agent_id>`; answered by `register_success` with the same id. */
export const RegisterPayloadSchema = z.object({
  agent_id: z.string().min(1),
  name: z.string().min(1),
  k8s_version: z.string(),
  hostname: z.string(),
  agent_version: z.string(),
  server_ip: z.string(),
  region: z.string(),
  cloud_provider: z.string(),
  tunnel_port_config: z.object({ kubernetes_api: z.number(), kubelet: z.number(), agent_http: z.number() }),
  labels: z.record(z.string(), z.string()),
  server_specs: z.object({
    cpu_cores: z.number().int().optional(),
    memory_gb: z.number().int().optional(),
    disk_gb: z.number().int().optional(),
    os: z.string().optional(),
  }),
  features: z.record(z.string(), z.boolean()),
  metadata: z.record(z.string(), z.string()).optional(),
  /** Previously assigned cluster id, on re-registration. */
  cluster_id: z.string().optional(),
  /** ServiceAccount token the control plane should use for Kubernetes API calls. Secret. */
  k8s_service_token: z.string().optional(),
});
export type RegisterPayload = z.infer<typeof RegisterPayloadSchema>;

/** Controller → agent. A non-empty `cluster_id` is required; everything else optional. */
export const RegisterSuccessSchema = z.object({
  cluster_id: z.string().min(1, 'register_success without a cluster_id'),
  cluster_uuid: z.string().optional(),
  name: z.string().optional(),
  status: z.string().optional(),
  tunnel_url: z.string().optional(),
  api_server: z.string().optional(),
  token: z.string().optional(),
  workspace_id: z.union([z.number(), z.string()]).optional(),
  gateway_ws_url: z.string().optional(),
});
export type RegisterSuccess = z.infer<typeof RegisterSuccessSchema>;

/** Agent → CP, no request_id. Monitoring fields only when discovered (§7); `worker_join` only when enabled (L10). */
export const HeartbeatPayloadSchema = z
  .object({
    cluster_id: z.string(),
    agent_id: z.string(),
    status: z.enum(['healthy', 'reconnecting', 'disconnected']),
    tunnel_status: z.enum(['connected', 'disconnected']),
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  })
  .catchall(z.unknown());
export type HeartbeatPayload = z.infer<typeof HeartbeatPayloadSchema>;

/** CP → agent. `error` text; "not registered"/"cluster not found" trigger re-registration (§2.7, L2). */
export const ErrorPayloadSchema = z.object({ error: z.string().optional(), message: z.string().optional() }).catchall(z.unknown());

/** CP → agent on the gateway: yamux negotiation (§5.1). We answer only when asked for JSON-compatible mode. */
export const GatewayHelloSchema = z.object({
  use_yamux: z.boolean().optional(),
  yamux_config: z.record(z.string(), z.unknown()).optional(),
  /** Ours (src/protocol/yamux-hello.ts): `tagged` yamux framing; an upstream gateway never sends it. */
  pipeops_yamux_framing: z.string().optional(),
  /** Ours: `length_prefixed` UDP datagrams (deviation T2). */
  pipeops_udp_datagrams: z.string().optional(),
});

export function needsReregistration(errorText: string): boolean {
  const t = errorText.toLowerCase();
  return t.includes('not registered') || t.includes('cluster not found');
}

/** Register request id, upstream format `req_<unix-nanoseconds>_<agent_id>`. */
export function registerRequestId(agentId: string, nowMs = Date.now()): string {
  return `req_${BigInt(nowMs) * 1_000_000n}_${agentId}`;
}
