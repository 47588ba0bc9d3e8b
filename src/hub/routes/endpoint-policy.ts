// Which addresses a direct route's `public_endpoint` may reach. The hub fetches these from its own network
// position, so an agent token must not be able to aim it at the hub itself, at loopback or metadata services,
// or at the operator's private network: non-public ranges are refused unless the operator lists them in
// `direct_allowed_cidrs`; unspecified, multicast and broadcast addresses and the hub's own listeners never pass.
// Pure (node:net's BlockList is an in-memory matcher).
import { BlockList, isIP } from 'node:net';

type Family = 'ipv4' | 'ipv6';
type Range = readonly [address: string, prefix: number, family: Family, what: string];

const NEVER: readonly Range[] = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
  ['255.255.255.255', 32, 'ipv4', 'the broadcast address'],
];

const NON_PUBLIC: readonly Range[] = [
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a shared (carrier-grade NAT) address'],
  ['fc00::', 7, 'ipv6', 'a unique-local (private) address'],
  ['fec0::', 10, 'ipv6', 'a site-local (private) address'],
  ['192.0.0.0', 24, 'ipv4', 'an IETF protocol address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['64:ff9b::', 96, 'ipv6', 'a NAT64 address'],
];

/** `a.b.c.d/n` or `v6::/n` → its parts, or null when it is not a CIDR. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: Family } | null {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) return null;
  const v = isIP(m[1]!);
  const prefix = Number(m[2]);
  if (v === 0 || prefix > (v === 4 ? 32 : 128)) return null;
  return { address: m[1]!, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it carries. */
export function canonicalAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip.toLowerCase();
}

const familyOf = (ip: string): Family => (isIP(ip) === 4 ? 'ipv4' : 'ipv6');

type Compiled = readonly { what: string; list: BlockList }[];

function compile(ranges: readonly Range[]): Compiled {
  return ranges.map(([address, prefix, family, what]) => {
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return { what, list };
  });
}

const NEVER_LISTS = compile(NEVER);
const NON_PUBLIC_LISTS = compile(NON_PUBLIC);
const LOOPBACK_LISTS = compile(NON_PUBLIC.slice(0, 2));

function classify(ranges: Compiled, ip: string): string | null {
  const family = familyOf(ip);
  for (const r of ranges) if (r.list.check(ip, family)) return r.what;
  return null;
}

export interface Listener {
  host: string;
  port: number;
}

/** The rules, compiled once per hub: the operator's allow-list, the hub's listeners and this machine's addresses. */
export class EndpointPolicy {
  readonly #allowed = new BlockList();
  readonly allowedCidrs: readonly string[];
  /** Filled in as the hub's listeners start (ports may be ephemeral). */
  readonly listeners: Listener[] = [];
  readonly #localAddresses: ReadonlySet<string>;

  constructor(allowedCidrs: readonly string[], localAddresses: Iterable<string> = []) {
    this.allowedCidrs = allowedCidrs;
    for (const c of allowedCidrs) {
      const p = parseCidr(c);
      if (!p) throw new Error(`direct_allowed_cidrs: ${JSON.stringify(c)} is not a CIDR`);
      this.#allowed.addSubnet(p.address, p.prefix, p.family);
    }
    this.#localAddresses = new Set([...localAddresses].map(canonicalAddress));
  }

  /** Null when `ip:port` may be reached, else why not (a sentence fragment naming the address). */
  check(rawIp: string, port: number): string | null {
    const ip = canonicalAddress(rawIp);
    if (isIP(ip) === 0) return `${JSON.stringify(rawIp)} is not an IP address`;
    const never = classify(NEVER_LISTS, ip);
    if (never) return `${ip} is ${never}`;
    if (this.#isHub(ip, port)) return `${ip}:${port} is one of the hub's own listeners`;
    const what = classify(NON_PUBLIC_LISTS, ip);
    if (what && !this.#allowed.check(ip, familyOf(ip))) return `${ip} is ${what}, not in direct_allowed_cidrs`;
    return null;
  }

  #isHub(ip: string, port: number): boolean {
    for (const l of this.listeners) {
      if (l.port !== port) continue;
      const host = canonicalAddress(l.host);
      const wildcard = host === '0.0.0.0' || host === '::' || host === '';
      const local = classify(LOOPBACK_LISTS, ip) !== null || this.#localAddresses.has(ip);
      // A loopback listener: any loopback or local address on that port is treated as the hub (conservative).
      if (host === ip || (local && (wildcard || classify(LOOPBACK_LISTS, host) !== null))) return true;
    }
    return false;
  }
}

/** `host:port` (IPv6 in brackets) → its parts; null when malformed. */
export function splitEndpoint(endpoint: string): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(endpoint);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
