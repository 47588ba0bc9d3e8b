// Wire bodies of the control plane's route registry REST API (protocol.md §1.1). Agent → control plane, each a
// `POST {api_url}/api/v1/gateway/routes/<op>` with a JSON body; success is exactly HTTP 200, the answer is not read.
// The schemas are the types (and let the hub validate what agents send).
import { z } from 'zod';

export const ROUTES_PATH = '/api/v1/gateway/routes';

/**
 * `register`: one route. The registry keys routes by `hostname`, so a host with several paths is registered once per
 * path and the last one stays. `namespace`/`service_name`/`service_port` name the ingress controller Service.
 */
export const RegisterRouteSchema = z.object({
  hostname: z.string(),
  cluster_uuid: z.string(),
  namespace: z.string(),
  service_name: z.string(),
  service_port: z.number().int(),
  ingress_name: z.string(),
  path: z.string(),
  path_type: z.string(),
  tls: z.boolean(),
  annotations: z.record(z.string(), z.string()).optional(),
  public_endpoint: z.string().optional(),
  routing_mode: z.string().optional(),
  deployment_id: z.string().optional(),
  deployment_name: z.string().optional(),
});
export type RegisterRouteBody = z.infer<typeof RegisterRouteSchema>;

/** `unregister`: forget every route of a host. */
export const UnregisterRouteSchema = z.object({ hostname: z.string() });
export type UnregisterRouteBody = z.infer<typeof UnregisterRouteSchema>;

export const SyncPathSchema = z.object({ path: z.string(), path_type: z.string(), service_name: z.string(), service_port: z.number().int() });
export const SyncRuleSchema = z.object({ host: z.string(), tls: z.boolean(), paths: z.array(SyncPathSchema) });
export const SyncIngressSchema = z.object({
  namespace: z.string(),
  ingress_name: z.string(),
  annotations: z.record(z.string(), z.string()).optional(),
  rules: z.array(SyncRuleSchema),
});

/**
 * `sync`: the cluster's complete route set; replaces whatever the registry held for `cluster_uuid`. Sent also when
 * empty (deviation G3). `ingress_controller` is omitted when no controller Service is known.
 */
export const SyncRoutesSchema = z.object({
  cluster_uuid: z.string(),
  public_endpoint: z.string().optional(),
  routing_mode: z.string().optional(),
  ingress_controller: z
    .object({ name: z.string(), namespace: z.string(), port: z.number().int(), type: z.enum(['traefik', 'nginx', 'unknown']) })
    .optional(),
  ingresses: z.array(SyncIngressSchema),
});
export type SyncRoutesBody = z.infer<typeof SyncRoutesSchema>;
