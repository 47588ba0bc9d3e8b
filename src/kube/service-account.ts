// The mounted ServiceAccount credentials (protocol §9.6): trimmed token, CA bundle validated as PEM certificates
// and re-encoded as base64 of the whole file (`cluster_cert_data`), and the namespace.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type ServiceAccountFiles = {
  token?: string;
  caPem?: string;
  /** base64 of the whole ca.crt file, as persisted in the state Secret. */
  clusterCertData?: string;
  namespace?: string;
};

export class ServiceAccountError extends Error {
  readonly code = 'service_account_invalid';
  override name = 'ServiceAccountError';
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ServiceAccountError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Throws unless `pem` holds at least one CERTIFICATE block and every such block parses as X.509. */
export function validateCaPem(pem: string, source: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ServiceAccountError(`${source} contains no PEM CERTIFICATE block`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new ServiceAccountError(`${source} has a CERTIFICATE block that does not parse: ${(e as Error).message}`);
    }
  }
}

/** Reads whatever of token, ca.crt and namespace exists in `dir`; a present but invalid ca.crt is an error. */
export function readServiceAccount(dir: string = DEFAULT_SERVICE_ACCOUNT_DIR): ServiceAccountFiles {
  const out: ServiceAccountFiles = {};
  const token = readOptional(join(dir, 'token'))?.trim();
  if (token) out.token = token;
  const caPath = join(dir, 'ca.crt');
  const ca = readOptional(caPath);
  if (ca !== undefined) {
    validateCaPem(ca, caPath);
    out.caPem = ca;
    out.clusterCertData = Buffer.from(ca, 'utf8').toString('base64');
  }
  const ns = readOptional(join(dir, 'namespace'))?.trim();
  if (ns) out.namespace = ns;
  return out;
}
