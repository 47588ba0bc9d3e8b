// The sandbox's generated TLS material is minted in-process: it works with no openssl on PATH.
import { expect, test } from 'bun:test';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { TlsResult } from '../../src/sandbox/tls.ts';
import { withoutPath } from '../support/without-path.ts';

const MODULE = join(import.meta.dir, '..', '..', 'src', 'sandbox', 'tls.ts');

test('no programs on PATH: a CA and an API server certificate for localhost, loopback and kubernetes.default.svc', async () => {
  const t = await withoutPath<TlsResult>(MODULE, 'generateTls');
  if ('error' in t) throw new Error(t.error);
  const ca = new X509Certificate(t.ca);
  const server = new X509Certificate(t.cert);
  expect(ca.subject).toBe('CN=pipeops-sandbox-ca');
  expect(ca.ca).toBe(true);
  expect(server.subject).toBe('CN=pipeops-sandbox-apiserver');
  expect(server.verify(ca.publicKey)).toBe(true);
  expect(server.checkIssued(ca)).toBe(true);
  for (const c of [ca, server]) expect(Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000)).toBe(3650);
  expect(server.subjectAltName).toBe(
    'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc',
  );
  expect(t.key).toStartWith('-----BEGIN PRIVATE KEY-----');
});
