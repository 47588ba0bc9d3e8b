// The public gateway's headers for the backend: the client's address in X-Forwarded-For (appended), X-Real-IP
// (replaced) and Forwarded (appended, RFC 7239), whatever the client claimed.
import { describe, expect, test } from 'bun:test';
import { appHeaders, forwardedElement } from '../../src/hub/public-gateway/app-request.ts';

describe('appHeaders: client address headers', () => {
  test('claims of the client are kept as earlier hops only; the gateway sets its own', () => {
    const raw = ['Host', 'app.example', 'X-Forwarded-For', '203.0.113.9', 'X-Real-IP', '203.0.113.9', 'Forwarded', 'for=203.0.113.9', 'X-Forwarded-Proto', 'https', 'X-Pipeops-Forwarded-Client', '203.0.113.9'];
    const h = appHeaders(raw, { ip: '127.0.0.7', proto: 'http' }, { drop: ['x-pipeops-forwarded-client'] });
    expect(h['X-Forwarded-For']).toEqual(['203.0.113.9, 127.0.0.7']);
    expect(h['X-Real-IP']).toEqual(['127.0.0.7']);
    expect(h.Forwarded).toEqual(['for=203.0.113.9, for=127.0.0.7;host=app.example;proto=http']);
    expect(h['X-Forwarded-Proto']).toEqual(['http']);
    expect(Object.keys(h).map((k) => k.toLowerCase())).not.toContain('x-pipeops-forwarded-client');
    expect(Object.keys(h).filter((k) => k.toLowerCase() === 'x-real-ip')).toEqual(['X-Real-IP']);
  });

  test('without claims: one hop', () => {
    const h = appHeaders(['Host', 'app.example'], { ip: '10.1.2.3', proto: 'https' });
    expect(h['X-Forwarded-For']).toEqual(['10.1.2.3']);
    expect(h.Forwarded).toEqual(['for=10.1.2.3;host=app.example;proto=https']);
  });

  test('Forwarded quotes IPv6 addresses and hosts with a port', () => {
    expect(forwardedElement({ ip: '2001:db8::1', proto: 'http' }, 'app.example:8088')).toBe('for="[2001:db8::1]";host="app.example:8088";proto=http');
    expect(forwardedElement({ ip: '', proto: 'http' }, '')).toBe('for=unknown;proto=http');
  });
});
