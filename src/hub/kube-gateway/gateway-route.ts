// URL layout of the Kubernetes API gateway and the per-request decisions taken from it. Pure.
//   /clusters/<cluster id or name>/k8s/<Kubernetes path>?<query>
// e.g. /clusters/prod/k8s/api/v1/namespaces?limit=500 → cluster "prod", path /api/v1/namespaces, query limit=500.

export interface GatewayTarget {
  /** Cluster id or name, URL-decoded. */
  cluster: string;
  /** Kubernetes API path, always starting with `/` (`/` for the bare prefix). */
  path: string;
  /** Raw query without `?`, passed through unchanged. */
  query: string;
}

const PREFIX = /^\/clusters\/([^/]+)\/k8s(\/.*)?$/;

/** Parse a request target (`req.url`, path + query). Null when it is not under /clusters/<c>/k8s. */
export function parseGatewayTarget(url: string): GatewayTarget | null {
  const q = url.indexOf('?');
  const pathPart = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q + 1) : '';
  const m = PREFIX.exec(pathPart);
  if (!m) return null;
  let cluster: string;
  try {
    cluster = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  if (!cluster) return null;
  return { cluster, path: m[2] || '/', query };
}

/**
 * Ask the agent for a streamed response (proxy_response_header/_chunk/_end) for watches and log follows, as the
 * PipeOps controller does; everything else is buffered (one message, gzip and binary frames allowed).
 */
export function wantsStreamingResponse(query: string): boolean {
  if (!query) return false;
  const p = new URLSearchParams(query);
  const watch = p.get('watch');
  const follow = p.get('follow');
  return watch === 'true' || watch === '1' || follow === 'true' || follow === '1';
}

/** The server URL a kubeconfig uses for one cluster: gateway base + /clusters/<id>/k8s. */
export function clusterServerUrl(gatewayUrl: string, clusterId: string): string {
  return `${gatewayUrl.replace(/\/$/, '')}/clusters/${encodeURIComponent(clusterId)}/k8s`;
}
