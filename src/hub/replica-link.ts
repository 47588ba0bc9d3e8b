// Forwarding between hub replicas: a request for a cluster whose agent session another replica holds is carried
// to that replica's same gateway (Kubernetes API or public), which serves it like its own. Requests stream both
// ways with backpressure (pipe); upgrades (exec, attach, port-forward, app WebSockets) become a byte pipe to the
// peer after the request head, so the peer's 101 and everything after it reach the client unchanged.
//
// The link is authenticated with the replicas' shared secret: a forwarded request carries an HMAC over
// (replica, time, method, target), never the secret. A verified forward is served here and never forwarded again
// (no loops); a forged or stale one is refused. The client the forwarding replica served (its address and scheme)
// travels with a second HMAC over the same fields and the client's: the receiving replica uses it in place of the
// link's own peer address (X-Forwarded-For, logs) only when both verify; a copy sent by a client is ignored and never
// passed on. A separate signature keeps replicas of the previous release (which check only the first) forwarding
// to and from this one during a rolling upgrade.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from '../log/logger.ts';

export const FORWARDED_BY = 'x-pipeops-forwarded-by';
export const FORWARD_TIME = 'x-pipeops-forward-time';
export const FORWARD_SIGNATURE = 'x-pipeops-forward-signature';
/** The address of the client as the forwarding replica saw it (covered by the signature). */
export const FORWARDED_CLIENT = 'x-pipeops-forwarded-client';
/** The scheme the client used at the forwarding replica's public gateway (covered by the signature). */
export const FORWARDED_PROTO = 'x-pipeops-forwarded-proto';
/** HMAC over the forward's fields and the client's (address, scheme). */
export const FORWARDED_CLIENT_SIGNATURE = 'x-pipeops-forwarded-client-signature';
/** The link's own headers: dropped from everything passed on (to a peer, to an agent, to a backend). */
export const LINK_HEADERS: readonly string[] = [FORWARDED_BY, FORWARD_TIME, FORWARD_SIGNATURE, FORWARDED_CLIENT, FORWARDED_PROTO, FORWARDED_CLIENT_SIGNATURE];

/** Who the forwarding replica served: the client's address and, on the public gateway, the listener's scheme. */
export interface ForwardedClient {
  ip: string;
  proto?: 'http' | 'https';
}

/** How far a forward's clock may be from ours. */
const MAX_SKEW_MS = 60_000;

/** `client`: the forwarding replica's client address (absent when it sent none, e.g. an older replica). */
export type ForwardCheck = { kind: 'client' } | { kind: 'replica'; from: string; client?: ForwardedClient } | { kind: 'forged'; reason: string };

export interface ReplicaLinkOptions {
  replicaId: string;
  /** The shared secret; every replica the same. */
  secret: string;
  /** CA the peers' Kubernetes API gateway certificates chain to (the replicas share their certificate). */
  kubeCaPem?: string;
  log: Logger;
  now?: () => number;
}

export class ReplicaLink {
  readonly #o: ReplicaLinkOptions;
  readonly #now: () => number;

  constructor(o: ReplicaLinkOptions) {
    if (o.secret.length < 16) throw new Error('replica.secret needs at least 16 characters');
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  #mac(from: string, time: string, method: string, target: string): Buffer {
    return createHmac('sha256', this.#o.secret).update(`${from}\n${time}\n${method.toUpperCase()}\n${target}`).digest();
  }

  /** The client's signature: its own prefix, so that it can never stand for the forward's. */
  #clientMac(from: string, time: string, method: string, target: string, ip: string, proto: string): Buffer {
    return createHmac('sha256', this.#o.secret).update(`client\n${from}\n${time}\n${method.toUpperCase()}\n${target}\n${ip}\n${proto}`).digest();
  }

  /** The link headers for a request this replica forwards; `client`: whom it came from (sent when its address is an IP). */
  sign(method: string, target: string, client?: ForwardedClient): Record<string, string> {
    const time = String(this.#now());
    const id = this.#o.replicaId;
    const out: Record<string, string> = { [FORWARDED_BY]: id, [FORWARD_TIME]: time, [FORWARD_SIGNATURE]: this.#mac(id, time, method, target).toString('base64url') };
    if (client && isIP(client.ip)) {
      out[FORWARDED_CLIENT] = client.ip;
      if (client.proto) out[FORWARDED_PROTO] = client.proto;
      out[FORWARDED_CLIENT_SIGNATURE] = this.#clientMac(id, time, method, target, client.ip, client.proto ?? '').toString('base64url');
    }
    return out;
  }

  /** Whether a request came from a client, from a replica (verified), or claims to without proof. */
  check(req: IncomingMessage): ForwardCheck {
    const from = one(req.headers[FORWARDED_BY]);
    if (from === undefined) return { kind: 'client' };
    const time = one(req.headers[FORWARD_TIME]) ?? '';
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    if (!same(one(req.headers[FORWARD_SIGNATURE]), this.#mac(from, time, method, target))) return { kind: 'forged', reason: 'bad signature' };
    if (Math.abs(this.#now() - Number(time)) > MAX_SKEW_MS) return { kind: 'forged', reason: 'stale signature' };
    const ip = one(req.headers[FORWARDED_CLIENT]);
    if (ip === undefined) return { kind: 'replica', from };
    const proto = one(req.headers[FORWARDED_PROTO]) ?? '';
    if (!same(one(req.headers[FORWARDED_CLIENT_SIGNATURE]), this.#clientMac(from, time, method, target, ip, proto))) return { kind: 'forged', reason: 'bad client signature' };
    if (!isIP(ip) || (proto !== '' && proto !== 'http' && proto !== 'https')) return { kind: 'forged', reason: 'bad forwarded client' };
    return { kind: 'replica', from, client: proto ? { ip, proto } : { ip } };
  }

  /**
   * Carry a request (body unread) to `base` (the peer's gateway) and its answer back. `client`: the client's address
   * as this replica derived it (signed along). `fail` answers when the peer cannot be reached.
   */
  forwardRequest(req: IncomingMessage, res: ServerResponse, base: string, client: ForwardedClient, fail: (code: number, message: string) => void): void {
    const u = new URL(base);
    const target = req.url ?? '/';
    const secure = u.protocol === 'https:';
    const options = {
      host: u.hostname,
      port: Number(u.port) || (secure ? 443 : 80),
      method: req.method,
      path: target,
      headers: { ...withoutLinkHeaders(req.headers), ...this.sign(req.method ?? 'GET', target, client) },
      ...(secure ? this.#tlsOptions() : {}),
    };
    const up = (secure ? https : http).request(options, (answer) => {
      const headers = { ...answer.headers };
      // Framing is this connection's own (the peer's chunking was undone by the client).
      for (const h of ['connection', 'keep-alive', 'transfer-encoding']) delete headers[h];
      // Answered before the client's body was all here (a refusal, the peer's request timeout): the connection ends
      // after this answer, as after the gateway's own refusals, instead of reading the rest of that body for keep-alive.
      if (!req.complete) headers.connection = 'close';
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      res.flushHeaders();
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      this.#o.log.warn({ peer: u.host, err: e.message }, 'replica link: the replica holding the session did not answer');
      if (!res.headersSent) fail(502, 'the hub replica holding this cluster\'s session did not answer');
      else res.destroy();
    });
    // The client went away: stop the peer's side too (a watch must not outlive its client).
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  /** Carry an upgrade to `base`: the request head with link headers (`client` signed along), then bytes both ways. */
  forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, base: string, client: ForwardedClient, refuse: (code: number, message: string) => void): void {
    const u = new URL(base);
    const target = req.url ?? '/';
    const secure = u.protocol === 'https:';
    const port = Number(u.port) || (secure ? 443 : 80);
    const peer = secure ? tls.connect({ host: u.hostname, port, ...this.#tlsOptions() }) : net.connect({ host: u.hostname, port });
    const lines = [`${req.method ?? 'GET'} ${target} HTTP/1.1`];
    const raw = withoutLinkRawHeaders(req.rawHeaders);
    for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    for (const [k, v] of Object.entries(this.sign(req.method ?? 'GET', target, client))) lines.push(`${k}: ${v}`);
    let connected = false;
    peer.once(secure ? 'secureConnect' : 'connect', () => {
      connected = true;
      peer.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) peer.write(head);
      socket.pipe(peer);
      peer.pipe(socket);
    });
    peer.on('error', (e) => {
      this.#o.log.warn({ peer: u.host, err: e.message }, 'replica link: upgrade not carried to the replica holding the session');
      if (!connected) refuse(502, 'the hub replica holding this cluster\'s session did not answer');
      else socket.destroy();
    });
    socket.on('error', () => peer.destroy());
    socket.on('close', () => peer.destroy());
    // A that ended its side cleanly: the pipe has ended the client's side after A's last bytes, and the client's
    // connection closes once those are written and the client closes too (the gateway's sweep cuts a client that
    // keeps it open). Destroying it here dropped the tail still queued toward the client and, on the gateway's own
    // listener, reset the connection (kubectl exec through B: "connection reset by peer" after the command ran).
    // An A that went away without ending its side cuts the client at once.
    peer.on('close', () => {
      if (!socket.writableEnded) socket.destroy();
    });
  }

  /**
   * Open an L4 byte pipe to the replica at `base` (its Kubernetes API gateway) that holds a cluster's session: a
   * signed upgrade of `/internal/l4` naming the cluster and the stream header fields. Resolves after the peer's
   * 101 with the socket (half-close allowed) and any bytes that came with the answer; rejects with the reason.
   */
  openL4(base: string, t: L4ForwardTarget, timeoutMs = 10_000): Promise<{ socket: net.Socket; rest: Buffer }> {
    const u = new URL(base);
    const target = l4Target(t);
    const secure = u.protocol === 'https:';
    const port = Number(u.port) || (secure ? 443 : 80);
    // Half-open: the client's FIN must not end the answer's direction (node's TLSSocket takes the option; bun-types omit it).
    const peer = secure ? tls.connect({ host: u.hostname, port, ...this.#tlsOptions(), ...{ allowHalfOpen: true } }) : net.connect({ host: u.hostname, port, allowHalfOpen: true });
    peer.allowHalfOpen = true;
    peer.setNoDelay(true);
    return new Promise((resolve, reject) => {
      let got = Buffer.alloc(0);
      const fail = (why: string) => {
        clearTimeout(timer);
        peer.off('data', onData);
        peer.destroy();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail(`no answer from ${u.host} within ${timeoutMs} ms`), timeoutMs);
      const onData = (d: Buffer) => {
        got = Buffer.concat([got, d]);
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) {
          if (got.length > 16 * 1024) fail(`${u.host} answered an oversized head`);
          return;
        }
        const answer = got.subarray(0, end).toString('latin1');
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
        if (status !== '101') return fail(`${u.host} refused the L4 forward (${status ?? 'not HTTP'}): ${got.subarray(end + 4).toString('utf8').slice(0, 200)}`);
        // A replica that does not know UDP forwards would have opened a TCP stream: never send it datagrams.
        if (t.protocol === 'udp' && !new RegExp(`^upgrade:[ \\t]*${L4_UDP_UPGRADE}[ \\t]*$`, 'im').test(answer)) return fail(`${u.host} does not carry UDP between replicas (an older hub version)`);
        clearTimeout(timer);
        peer.off('data', onData);
        peer.off('error', onError);
        peer.pause();
        resolve({ socket: peer, rest: got.subarray(end + 4) });
      };
      const onError = (e: Error) => fail(`${u.host}: ${e.message}`);
      peer.on('error', onError);
      peer.on('end', () => fail(`${u.host} closed the connection before answering`));
      peer.once(secure ? 'secureConnect' : 'connect', () => {
        const lines = [`GET ${target} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', `Upgrade: ${L4_UPGRADE}`];
        for (const [k, v] of Object.entries(this.sign('GET', target))) lines.push(`${k}: ${v}`);
        peer.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      peer.on('data', onData);
    });
  }

  /** The peers present the replicas' shared certificate: its chain is checked, not the name (an internal address). */
  #tlsOptions() {
    return this.#o.kubeCaPem ? { ca: this.#o.kubeCaPem, checkServerIdentity: () => undefined } : { rejectUnauthorized: true };
  }
}

/** The internal path of L4 forwards (on the Kubernetes API gateway, which the replica link already reaches). */
export const L4_PATH = '/internal/l4';
export const L4_UPGRADE = 'pipeops-l4';
/** The holding replica's answer to a UDP forward: a replica that does not know UDP forwards answers `pipeops-l4`. */
export const L4_UDP_UPGRADE = 'pipeops-l4-udp';

/** What a replica needs to open the agent stream for a forwarded L4 connection or UDP client. */
export interface L4ForwardTarget {
  /** udp: the link carries length-prefixed datagrams (`[u16][bytes]`), whatever the agent negotiated. */
  protocol: 'tcp' | 'udp';
  cluster: string;
  /** The exposure's name (metrics and logs on the holding replica). */
  tunnel: string;
  namespace: string;
  service: string;
  port: number;
  tunnelId: string;
}

export function l4Target(t: L4ForwardTarget): string {
  const q = new URLSearchParams({ protocol: t.protocol, cluster: t.cluster, tunnel: t.tunnel, namespace: t.namespace, service: t.service, port: String(t.port), tunnel_id: t.tunnelId });
  return `${L4_PATH}?${q.toString()}`;
}

/** The forward's fields, or what is wrong with them. */
export function parseL4Target(url: string): L4ForwardTarget | string {
  const u = new URL(url, 'http://x');
  if (u.pathname !== L4_PATH) return `not ${L4_PATH}`;
  const q = u.searchParams;
  const need = ['cluster', 'tunnel', 'namespace', 'service', 'port', 'tunnel_id'];
  const missing = need.filter((k) => !q.get(k));
  if (missing.length) return `missing ${missing.join(', ')}`;
  const port = Number(q.get('port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `bad port ${q.get('port')}`;
  // Absent: a replica from before UDP forwards (TCP only).
  const protocol = q.get('protocol') ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') return `bad protocol ${protocol}`;
  return { protocol, cluster: q.get('cluster')!, tunnel: q.get('tunnel')!, namespace: q.get('namespace')!, service: q.get('service')!, port, tunnelId: q.get('tunnel_id')! };
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** A base64url signature header against the expected MAC, in constant time. */
function same(header: string | undefined, want: Buffer): boolean {
  const got = Buffer.from(header ?? '', 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * The address a request came from: the forwarding replica's client for a verified forward, else the peer of the
 * socket. `via` is `check(req)` (undefined: no replica link, so no forward can be verified).
 */
export function clientAddress(req: IncomingMessage, via: ForwardCheck | undefined): string {
  return via?.kind === 'replica' && via.client !== undefined ? via.client.ip : (req.socket.remoteAddress ?? '');
}

function withoutLinkHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !LINK_HEADERS.includes(k)) out[k] = v;
  return out;
}

/**
 * node's rawHeaders without the link's headers (what a gateway passes on to an agent or a peer). Runs on every
 * kube gateway request: the same array comes back, uncopied, when it holds none (the common case).
 */
export function withoutLinkRawHeaders(raw: readonly string[]): readonly string[] {
  let i = 0;
  while (i + 1 < raw.length && !LINK_HEADERS.includes(raw[i]!.toLowerCase())) i += 2;
  if (i + 1 >= raw.length) return raw;
  const out = raw.slice(0, i);
  for (; i + 1 < raw.length; i += 2) if (!LINK_HEADERS.includes(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}
