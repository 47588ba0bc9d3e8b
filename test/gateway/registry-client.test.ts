// The route registry REST client (§1.1): paths, headers, exact-200, retries with capped jittered delays, errors
// with status and body but never the token, pipeops.tls for REST (L6).
import { afterEach, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RETRY, RegistryError, retryDelay, RouteRegistryClient } from '../../src/gateway/route-registry-client.ts';
import { FakeRegistry } from './support/fake-registry.ts';

const FIX = join(import.meta.dir, '../fixtures/tls');
let reg: FakeRegistry;
afterEach(async () => {
  await reg?.stop();
});

const client = (over: Partial<ConstructorParameters<typeof RouteRegistryClient>[0]> = {}, sleeps: number[] = []) =>
  new RouteRegistryClient({ apiUrl: reg.url, token: reg.token, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, ...over });

describe('route registry client', () => {
  test('POSTs JSON with the Bearer token to {api_url}/api/v1/gateway/routes/<op>', async () => {
    reg = new FakeRegistry().start();
    const seen: Request[] = [];
    const srv = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => {
      seen.push(r.clone());
      return reg.handle(r);
    } });
    try {
      const c = new RouteRegistryClient({ apiUrl: `ws://127.0.0.1:${srv.port}/`, token: reg.token });
      await c.unregister('a.example.com');
      expect(seen[0]!.method).toBe('POST');
      expect(new URL(seen[0]!.url).pathname).toBe('/api/v1/gateway/routes/unregister');
      expect(seen[0]!.headers.get('authorization')).toBe(`Bearer ${reg.token}`);
      expect(seen[0]!.headers.get('content-type')).toBe('application/json');
      expect(await seen[0]!.json()).toEqual({ hostname: 'a.example.com' });
    } finally {
      await srv.stop(true);
    }
  });

  test('only 200 is success: 201 fails after 3 attempts with status and body in the error', async () => {
    reg = new FakeRegistry().start();
    reg.okStatus = 201;
    const sleeps: number[] = [];
    const err = await client({}, sleeps).unregister('x').catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(201);
    expect(err.message).toContain('HTTP 201');
    expect(err.message).toContain('ok');
    expect(reg.calls.length).toBe(3);
    expect(sleeps).toEqual([1000, 2000]);
  });

  test('retry delays: min(2^n s, 5 s) for register/unregister, 10 s for sync, jittered ±25 %', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(DEFAULT_RETRY, 'register', n, () => 0.5))).toEqual([1000, 2000, 4000, 5000]);
    expect(retryDelay(DEFAULT_RETRY, 'sync', 5, () => 0.5)).toBe(10_000);
    expect(retryDelay(DEFAULT_RETRY, 'register', 1, () => 0)).toBe(750);
    expect(retryDelay(DEFAULT_RETRY, 'register', 1, () => 0.999999)).toBeLessThanOrEqual(1250);
  });

  test('recovers on the second attempt; the token never appears in errors', async () => {
    reg = new FakeRegistry().start();
    reg.failNext(1, 503);
    const seen: { retries: number; ok: boolean }[] = [];
    await client({ observe: (o) => seen.push(o) }).unregister('x');
    expect(seen).toMatchObject([{ ok: true, retries: 1 }]);
    const bad = new RouteRegistryClient({ apiUrl: reg.url, token: 'not-the-token', sleep: async () => {} });
    const e = (await bad.unregister('x').catch((x) => x)) as RegistryError;
    expect(e.status).toBe(401);
    expect(e.message).not.toContain('not-the-token');
    const down = new RouteRegistryClient({ apiUrl: 'http://127.0.0.1:1', token: 'secret-token-xyz', sleep: async () => {} });
    const d = (await down.unregister('x').catch((x) => x)) as RegistryError;
    expect(d.status).toBe(0);
    expect(d.message).not.toContain('secret-token-xyz');
  });

  test('pipeops.tls CA applies to REST calls (L6); without it the certificate is rejected', async () => {
    reg = new FakeRegistry();
    const srv = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      tls: { cert: readFileSync(join(FIX, 'server.crt'), 'utf8'), key: readFileSync(join(FIX, 'server.key'), 'utf8') },
      fetch: (r) => reg.handle(r),
    });
    try {
      const url = `https://localhost:${srv.port}`;
      await new RouteRegistryClient({ apiUrl: url, token: reg.token, tls: { ca: readFileSync(join(FIX, 'ca.crt'), 'utf8') } }).unregister('x');
      expect(reg.calls.length).toBe(1);
      const e = (await new RouteRegistryClient({ apiUrl: url, token: reg.token, sleep: async () => {} }).unregister('x').catch((x) => x)) as RegistryError;
      expect(e.status).toBe(0);
      await new RouteRegistryClient({ apiUrl: url, token: reg.token, tls: { insecureSkipVerify: true } }).unregister('x');
      expect(reg.calls.length).toBe(2);
    } finally {
      await srv.stop(true);
    }
  });
});
