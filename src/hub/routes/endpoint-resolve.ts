// Resolves a direct route's `public_endpoint` and checks every address against the hub's EndpointPolicy. Run at
// registration and again before each connection; the caller connects to the address returned here, never to the
// name, so a DNS answer cannot change between the check and the connection (rebinding).
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type EndpointPolicy, splitEndpoint } from './endpoint-policy.ts';

/** All addresses of a name (dns.lookup semantics: /etc/hosts, then DNS). Injected by tests. */
export type LookupFn = (host: string) => Promise<string[]>;

export const systemLookup: LookupFn = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type ResolvedEndpoint =
  | { ok: true; host: string; port: number; address: string }
  | { ok: false; reason: string };

/** The address to connect to, or why `endpoint` may not be reached. Any refused address refuses the name. */
export async function resolveEndpoint(endpoint: string, policy: EndpointPolicy, lookup: LookupFn = systemLookup): Promise<ResolvedEndpoint> {
  const ep = splitEndpoint(endpoint);
  if (!ep) return { ok: false, reason: `public_endpoint ${JSON.stringify(endpoint)} must be host:port` };
  let addresses: string[];
  if (isIP(ep.host)) addresses = [ep.host];
  else {
    try {
      addresses = await lookup(ep.host);
    } catch (e) {
      return { ok: false, reason: `public_endpoint ${JSON.stringify(endpoint)}: ${ep.host} does not resolve (${(e as { code?: string }).code ?? (e as Error).message})` };
    }
    if (!addresses.length) return { ok: false, reason: `public_endpoint ${JSON.stringify(endpoint)}: ${ep.host} has no addresses` };
  }
  for (const a of addresses) {
    const why = policy.check(a, ep.port);
    if (why) return { ok: false, reason: `public_endpoint ${JSON.stringify(endpoint)} is refused: ${ep.host === a ? '' : `${ep.host} resolves to `}${why}` };
  }
  return { ok: true, host: ep.host, port: ep.port, address: addresses[0]! };
}
