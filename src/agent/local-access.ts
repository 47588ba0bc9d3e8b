// Who may use the agent's local port (issue 10, item 11). The server listens on 0.0.0.0 so kubelet probes and
// Prometheus reach /health, /ready, /version and /metrics: those stay open. Everything else (the dashboard, /ws,
// the SSE streams, every /api/* endpoint) shows live logs and cluster state, so it is served only to loopback
// clients (which is what `kubectl port-forward` to the pod is) or to holders of `agent.api_token`.
// A browser presents the token once as `/dashboard?token=…`; the agent answers with an HttpOnly, SameSite=Strict
// cookie and redirects to the bare URL, so the page's own /ws and SSE requests carry it.
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import type { Logger } from '../log/logger.ts';

/** Paths served to anyone who can reach the port. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/version', '/metrics', '/']);

export const TOKEN_COOKIE = 'pipeops_agent_api_token';

/** 127.0.0.0/8, ::1, and IPv4 loopback written as an IPv4-mapped IPv6 address. */
export function isLoopback(address: string | null | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === TOKEN_COOKIE) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m?.[1];
}

interface RequestIpCapable {
  requestIP(req: Request): { address: string } | null;
}

/**
 * The client's address, or `undefined` for an in-process request (Hono's app.request() in tests: no socket,
 * no network peer). A real server always has an address; a socket without one (`null`) is treated as remote.
 */
function clientAddress(c: Context): string | null | undefined {
  const env = c.env as Partial<RequestIpCapable> | undefined;
  if (!env || typeof env.requestIP !== 'function') return undefined;
  return env.requestIP(c.req.raw)?.address ?? null;
}

/** The access check: `null` lets the request through, otherwise the refusal (or the token-for-cookie redirect). */
export function localAccess(opts: { apiToken: string; logger: Logger }): (c: Context) => Response | null {
  const token = opts.apiToken;
  return (c) => {
    if (OPEN_PATHS.has(c.req.path)) return null;
    const address = clientAddress(c);
    if (address === undefined || isLoopback(address)) return null;
    if (token) {
      const query = c.req.path === '/dashboard' ? c.req.query('token') : undefined;
      if (query !== undefined && sameToken(query, token)) {
        // Trade the URL token for a cookie at once, so it does not stay in the address bar or the history.
        const url = new URL(c.req.url);
        url.searchParams.delete('token');
        c.header('Set-Cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`);
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      if (sameToken(bearer(c.req.header('authorization')), token) || sameToken(cookieToken(c.req.header('cookie')), token)) return null;
    }
    opts.logger.warn({ remote: address, method: c.req.method, path: c.req.path }, 'local API request refused: not loopback and no valid agent.api_token');
    const detail = token
      ? 'this endpoint needs the agent API token (agent.api_token): Authorization: Bearer <token>, or open /dashboard?token=<token> in a browser'
      : 'this endpoint is served to loopback clients only (kubectl port-forward); set agent.api_token to allow others with a token';
    if (token) c.header('WWW-Authenticate', 'Bearer realm="pipeops-agent"');
    return c.json({ error: token ? 'unauthorized' : 'forbidden', path: c.req.path, detail }, token ? 401 : 403);
  };
}
