// TLS for the Kubernetes API gateway (kubectl only sends bearer tokens over HTTPS). The operator's certificate
// when configured; otherwise a CA and a server certificate minted in-process (no openssl: the image has none) and
// kept in `<state>.tls/`, so a restarted hub presents the same CA and kubeconfigs handed out earlier keep working.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintCa, mintServerCert } from '../../tls/mint-certificates.ts';

export interface GatewayTls {
  cert: string;
  key: string;
  /** CA that signed `cert`, for kubeconfigs; undefined when the operator's cert chains to a public CA. */
  caPem: string | undefined;
  /** Where the hub keeps its gateway files (generated CA, the `kube-url` hint for `hub kubeconfig`). */
  dir: string;
}

export interface GatewayTlsInput {
  state: string;
  host: string;
  publicUrl: string;
  tls?: { cert_file: string; key_file: string; ca_file?: string | undefined } | undefined;
}

/** `<state>.tls`, or a per-process temp dir for `:memory:` state. */
export function gatewayDir(state: string): string {
  if (state !== ':memory:') return `${state}.tls`;
  memoryDir ??= mkdtempSync(join(tmpdir(), 'pipeops-hub-tls-'));
  return memoryDir;
}
let memoryDir: string | undefined;

export async function ensureGatewayTls(i: GatewayTlsInput): Promise<GatewayTls> {
  const dir = gatewayDir(i.state);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (i.tls) {
    return {
      cert: readFileSync(i.tls.cert_file, 'utf8'),
      key: readFileSync(i.tls.key_file, 'utf8'),
      caPem: i.tls.ca_file ? readFileSync(i.tls.ca_file, 'utf8') : undefined,
      dir,
    };
  }
  const f = (n: string) => join(dir, n);
  try {
    if (!existsSync(f('ca.crt')) || !existsSync(f('ca.key'))) await writeCa(dir);
    const sans = subjectAltNames(i.host, i.publicUrl);
    const current = existsSync(f('server.sans')) ? readFileSync(f('server.sans'), 'utf8') : '';
    if (current !== sans || !existsSync(f('server.crt')) || !existsSync(f('server.key'))) await writeServerCert(dir, sans);
  } catch (e) {
    throw new Error(`kube gateway: could not create its TLS certificate in ${dir} (${(e as Error).message}); fix the directory or pass --tls-cert/--tls-key`);
  }
  return { cert: readFileSync(f('server.crt'), 'utf8'), key: readFileSync(f('server.key'), 'utf8'), caPem: readFileSync(f('ca.crt'), 'utf8'), dir };
}

/** The CA a running (or previous) hub with this state file presents, if it generated one. */
export function persistedCaPem(state: string): string | undefined {
  const p = join(gatewayDir(state), 'ca.crt');
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

// Lifetimes: the CA ten years, the server certificate 825 days (the longest that Apple's TLS clients accept).
async function writeCa(dir: string): Promise<void> {
  const ca = await mintCa('pipeops-hub-kube-gateway-ca', 3650);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
}

async function writeServerCert(dir: string, sans: string): Promise<void> {
  const f = (n: string) => join(dir, n);
  const ca = { certPem: readFileSync(f('ca.crt'), 'utf8'), keyPem: readFileSync(f('ca.key'), 'utf8') };
  const server = await mintServerCert(ca, 'pipeops-hub-kube-gateway', sans.split(','), 825);
  writeFileSync(f('server.key'), server.keyPem, { mode: 0o600 });
  writeFileSync(f('server.crt'), server.certPem);
  writeFileSync(f('server.sans'), sans);
}

/** localhost and loopback always; the listen host and the public URL's host when they name something else. */
export function subjectAltNames(host: string, publicUrl: string): string {
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  const add = (h: string) => {
    const bare = h.replace(/^\[|\]$/g, '');
    if (!bare || bare === '0.0.0.0' || bare === '::') return;
    names.add(/^[\d.]+$/.test(bare) || bare.includes(':') ? `IP:${bare}` : `DNS:${bare}`);
  };
  add(host);
  if (publicUrl) {
    try {
      add(new URL(publicUrl).hostname);
    } catch {
      // An invalid public_url is reported by the agent endpoint; it just adds no name here.
    }
  }
  return [...names].join(',');
}
