// Mints a throw-away CA and a server certificate for the sandbox (localhost, 127.0.0.1, ::1,
// kubernetes.default.svc) with the openssl CLI, so the demo runs HTTPS without shipped keys.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export type TlsResult = TlsMaterial | { error: string };

const EXTENSIONS = [
  'basicConstraints=CA:FALSE',
  'keyUsage=digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
].join('\n');

export async function generateTls(): Promise<TlsResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-tls-'));
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '3650', '-subj', '/CN=pipeops-sandbox-ca']);
    await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=pipeops-sandbox-apiserver']);
    await writeFile(f('ext.cnf'), EXTENSIONS);
    await run('openssl', [
      'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('server.crt'), '-days', '3650', '-extfile', f('ext.cnf'),
    ]);
    const [cert, key, ca] = await Promise.all([readFile(f('server.crt'), 'utf8'), readFile(f('server.key'), 'utf8'), readFile(f('ca.crt'), 'utf8')]);
    return { cert, key, ca };
  } catch (e) {
    return { error: `could not mint sandbox TLS certificates with openssl (is it installed?): ${(e as Error).message}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
