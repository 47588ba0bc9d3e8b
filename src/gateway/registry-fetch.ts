// One HTTP call to a control-plane registry (routes §1.1, tunnels §1.2): bearer token, JSON body, pipeops.tls
// applied (deviation L6), a total deadline. Shared by both registry clients; each decides what a status means.
import { runtime } from '#runtime';

/** pipeops.tls as the REST clients use it. */
export interface RegistryTls {
  insecureSkipVerify?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface RegistryCall {
  method: string;
  token: string;
  /** JSON text. */
  body?: string;
  tls?: RegistryTls;
  timeoutMs: number;
  userAgent?: string;
}

/** The response (any status); throws only when the control plane was not reached. */
export function registryFetch(url: string, c: RegistryCall): Promise<Response> {
  const tls = c.tls ?? {};
  return runtime.fetch(url, {
    method: c.method,
    headers: { authorization: `Bearer ${c.token}`, 'user-agent': c.userAgent ?? 'pipeops-agent', ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(c.body !== undefined ? { body: c.body } : {}),
    signal: AbortSignal.timeout(c.timeoutMs),
    tls: {
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      rejectUnauthorized: tls.insecureSkipVerify !== true,
    },
  });
}

/** `text` with every occurrence of the token replaced. */
export function scrubToken(text: string, token: string): string {
  return token ? text.split(token).join('[REDACTED]') : text;
}
