// The replica link's client signature covers the forwarded client (address and scheme): a verified forward yields
// the client the forwarding replica saw, any change to it (or a copy sent by a client) does not; the forward's own
// signature is the previous release's, so replicas of both releases verify each other's forwards.
import { describe, expect, test } from 'bun:test';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { createHmac } from 'node:crypto';
import { clientAddress, FORWARD_SIGNATURE, FORWARD_TIME, FORWARDED_BY, FORWARDED_CLIENT, FORWARDED_CLIENT_SIGNATURE, FORWARDED_PROTO, ReplicaLink, withoutLinkRawHeaders } from '../../src/hub/replica-link.ts';

const log = pino({ level: 'silent' });
const link = (id: string, secret = 'replica-secret-0123456789') => new ReplicaLink({ replicaId: id, secret, log, now: () => 1_000_000 });
const request = (method: string, url: string, headers: Record<string, string>, remote = '127.0.0.2') =>
  ({ method, url, headers, socket: { remoteAddress: remote } }) as unknown as IncomingMessage;

describe('replica link: the forwarded client', () => {
  const b = link('replica-b');
  const a = link('replica-a');

  test('a signed forward carries the client address and scheme B saw; A takes them only from it', () => {
    const h = b.sign('GET', '/x?y=1', { ip: '127.0.0.7', proto: 'https' });
    expect(h[FORWARDED_CLIENT]).toBe('127.0.0.7');
    expect(h[FORWARDED_PROTO]).toBe('https');
    const via = a.check(request('GET', '/x?y=1', h));
    expect(via).toEqual({ kind: 'replica', from: 'replica-b', client: { ip: '127.0.0.7', proto: 'https' } });
    expect(clientAddress(request('GET', '/x?y=1', h), via)).toBe('127.0.0.7');
  });

  test('changing the client address or scheme breaks the client signature', () => {
    const h = b.sign('GET', '/x', { ip: '127.0.0.7', proto: 'http' });
    expect(a.check(request('GET', '/x', { ...h, [FORWARDED_CLIENT]: '203.0.113.9' }))).toEqual({ kind: 'forged', reason: 'bad client signature' });
    expect(a.check(request('GET', '/x', { ...h, [FORWARDED_PROTO]: 'https' }))).toEqual({ kind: 'forged', reason: 'bad client signature' });
    const { [FORWARDED_CLIENT_SIGNATURE]: _, ...unsigned } = h;
    expect(a.check(request('GET', '/x', unsigned))).toEqual({ kind: 'forged', reason: 'bad client signature' });
    // The forward's own signature cannot stand in for the client's.
    expect(a.check(request('GET', '/x', { ...h, [FORWARDED_CLIENT_SIGNATURE]: h[FORWARD_SIGNATURE]! }))).toEqual({ kind: 'forged', reason: 'bad client signature' });
  });

  test("the forward's own signature is the previous release's: a replica of either release verifies it", () => {
    const h = b.sign('PATCH', '/x?y=1', { ip: '127.0.0.7' });
    const previous = createHmac('sha256', 'replica-secret-0123456789').update(`replica-b\n${h[FORWARD_TIME]}\nPATCH\n/x?y=1`).digest('base64url');
    expect(h[FORWARD_SIGNATURE]).toBe(previous);
  });

  test('a client-sent copy of the header is not a forward: the socket address counts', () => {
    const req = request('GET', '/x', { [FORWARDED_CLIENT]: '203.0.113.9', [FORWARDED_PROTO]: 'https' }, '127.0.0.5');
    const via = a.check(req);
    expect(via).toEqual({ kind: 'client' });
    expect(clientAddress(req, via)).toBe('127.0.0.5');
    expect(clientAddress(req, undefined)).toBe('127.0.0.5');
  });

  test('a forward without a client (a replica that sends none) still verifies and names no client', () => {
    const h = b.sign('POST', '/x');
    expect(h[FORWARDED_CLIENT]).toBeUndefined();
    expect(a.check(request('POST', '/x', h))).toEqual({ kind: 'replica', from: 'replica-b' });
  });

  test('an address that is not an IP is not sent; another secret does not verify', () => {
    expect(b.sign('GET', '/x', { ip: 'evil\r\nx: y' })[FORWARDED_CLIENT]).toBeUndefined();
    const other = link('replica-b', 'another-secret-0123456789');
    expect(a.check(request('GET', '/x', other.sign('GET', '/x', { ip: '127.0.0.7' })))).toEqual({ kind: 'forged', reason: 'bad signature' });
  });

  test('the link headers are never passed on', () => {
    const h = b.sign('GET', '/x', { ip: '127.0.0.7', proto: 'http' });
    const raw = ['Host', 'app', ...Object.entries(h).flat(), 'X-Pipeops-Forwarded-Client', '1.2.3.4', 'X-App', 'kept'];
    expect(withoutLinkRawHeaders(raw)).toEqual(['Host', 'app', 'X-App', 'kept']);
    expect(raw).toContain(FORWARDED_BY);
  });
});
