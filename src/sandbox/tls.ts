// Mints a throw-away CA and a server certificate for the sandbox (localhost, 127.0.0.1, ::1,
// kubernetes.default.svc) in-process, so the demo runs HTTPS without shipped keys and without openssl.
import { mintCa, mintServerCert } from '../tls/mint-certificates.ts';

export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export type TlsResult = TlsMaterial | { error: string };

const SANS = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'];
const DAYS = 3650;

export async function generateTls(): Promise<TlsResult> {
  try {
    const ca = await mintCa('pipeops-sandbox-ca', DAYS);
    const server = await mintServerCert(ca, 'pipeops-sandbox-apiserver', SANS, DAYS);
    return { cert: server.certPem, key: server.keyPem, ca: ca.certPem };
  } catch (e) {
    return { error: `could not mint sandbox TLS certificates: ${(e as Error).message}` };
  }
}
