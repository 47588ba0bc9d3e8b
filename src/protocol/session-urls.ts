// Control-plane URL derivation (protocol.md §2.1 with deviation L3).
import { z } from 'zod';
import { EXTENSIONS_QUERY_PARAM, formatExtensions } from './extensions.ts';

export const CONTROLLER_WS_PATH = '/api/v1/clusters/agent/ws';

/** `https`→`wss`, `http`→`ws`, `wss`/`ws` kept (L3); the path is replaced, the query kept. */
export function controllerUrl(apiUrl: string): string {
  const u = new URL(apiUrl);
  const scheme = { 'https:': 'wss:', 'http:': 'ws:', 'wss:': 'wss:', 'ws:': 'ws:' }[u.protocol];
  if (!scheme) throw new Error(`pipeops.api_url has unsupported scheme ${u.protocol} (use https, http, wss or ws)`);
  u.protocol = scheme;
  u.pathname = CONTROLLER_WS_PATH;
  u.hash = '';
  return u.toString();
}

/** Base URL for REST calls (route registry, tunnels): ws(s) mapped back to http(s), path kept. */
export function restBaseUrl(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.protocol === 'wss:') u.protocol = 'https:';
  else if (u.protocol === 'ws:') u.protocol = 'http:';
  return u.toString().replace(/\/$/, '');
}

export const GatewayQuerySchema = z.object({
  agent_version: z.string(),
  cluster_uuid: z.string().min(1),
  supports_binary: z.literal('true').optional(),
  supports_response_streaming: z.literal('true').optional(),
  supports_streaming: z.literal('true').optional(),
  supports_websocket: z.literal('true').optional(),
  supports_yamux: z.literal('true').optional(),
  /** Ours (src/protocol/extensions.ts); absent from the Go agent's dial. */
  pipeops_extensions: z.string().optional(),
});

/**
 * Gateway URL: `https`→`wss`, `http`→`ws`; path `/ws` when empty; our parameters merged into its query,
 * keys sorted as Go's url.Values.Encode does. Adds `pipeops_extensions`, which the Go agent does not send.
 */
export function gatewayUrl(gatewayWsUrl: string, clusterUuid: string, agentVersion: string, opts: { yamux: boolean }): string {
  const u = new URL(gatewayWsUrl);
  if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/ws';
  const params = new URLSearchParams(u.search);
  params.set('agent_version', agentVersion);
  params.set('cluster_uuid', clusterUuid);
  params.set('supports_binary', 'true');
  params.set('supports_response_streaming', 'true');
  params.set('supports_streaming', 'true');
  params.set('supports_websocket', 'true');
  // We do not speak yamux yet; advertising it would invite a gateway_hello we must refuse.
  if (opts.yamux) params.set('supports_yamux', 'true');
  // The extensions this session speaks (src/protocol/extensions.ts); an upstream gateway ignores the parameter.
  params.set(EXTENSIONS_QUERY_PARAM, formatExtensions());
  params.sort();
  u.search = params.toString();
  return u.toString();
}

/** What an operator may see of an endpoint: scheme, host and path, never credentials or query. */
export function describeEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
