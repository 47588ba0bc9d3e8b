// What the route registry accepts (protocol.md §1.1): hostnames, paths, path types, routing modes and
// direct-mode endpoints. Pure; each check returns null when valid, else a message a person can act on.
import { PATH_TYPES, type PathType } from '../../ingress/route-match.ts';
import { splitEndpoint } from './endpoint-policy.ts';

export { PATH_TYPES, type PathType };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name, lower-case, at most 253 characters; an optional leading `*.` (one wildcard label). */
export function checkHostname(host: string): string | null {
  if (host.length === 0) return 'hostname is empty';
  if (host.length > 253) return `hostname is ${host.length} characters long; at most 253 are allowed`;
  if (host !== host.toLowerCase()) return `hostname ${JSON.stringify(host)} must be lower-case`;
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  const labels = bare.split('.');
  for (const l of labels) {
    if (!LABEL.test(l)) return `hostname ${JSON.stringify(host)} is not an RFC 1123 name (label ${JSON.stringify(l)}: letters, digits and '-', 1-63 characters, no leading or trailing '-')`;
  }
  if (host.startsWith('*.') && labels.length < 2) return `wildcard hostname ${JSON.stringify(host)} needs at least two labels after '*.'`;
  return null;
}

/** An absolute URL path: starts with '/', no '..' segment, no control characters, no query or fragment. */
export function checkPath(path: string): string | null {
  if (!path.startsWith('/')) return `path ${JSON.stringify(path)} must start with '/'`;
  if (path.length > 2048) return 'path is longer than 2048 characters';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'path contains a control character';
  if (/[?#\\]/.test(path)) return `path ${JSON.stringify(path)} must not contain '?', '#' or '\\'`;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return `path ${JSON.stringify(path)} has invalid percent-encoding`;
  }
  if (decoded.split('/').some((s) => s === '..' || s === '.')) return `path ${JSON.stringify(path)} must not contain '.' or '..' segments`;
  return null;
}

/** `path_type`: empty means Prefix (upstream default). */
export function normalisePathType(t: string | undefined): PathType | null {
  if (t === undefined || t === '') return 'Prefix';
  return (PATH_TYPES as readonly string[]).includes(t) ? (t as PathType) : null;
}

/** `routing_mode`: empty or absent means tunnel. */
export function normaliseRoutingMode(m: string | undefined): 'tunnel' | 'direct' | null {
  if (m === undefined || m === '' || m === 'tunnel') return 'tunnel';
  return m === 'direct' ? 'direct' : null;
}

/** `public_endpoint` of a direct route: `host:port` (IPv6 in brackets), port 1-65535. */
export function checkPublicEndpoint(ep: string): string | null {
  return splitEndpoint(ep) ? null : `public_endpoint ${JSON.stringify(ep)} must be host:port with a port 1-65535`;
}

/** Kubernetes object names as the agent validates them (namespace, Service). */
export function checkServiceRef(namespace: string, name: string, port: number): string | null {
  const ok = (s: string) => s.length >= 1 && s.length <= 253 && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(s);
  if (!ok(namespace)) return `namespace ${JSON.stringify(namespace)} is not a valid Kubernetes name`;
  if (!ok(name)) return `service_name ${JSON.stringify(name)} is not a valid Kubernetes name`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `service_port ${port} is out of range 1-65535`;
  return null;
}
