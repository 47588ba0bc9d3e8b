// The certificates and keys a loopback Kubernetes control plane needs, minted with the openssl CLI into a private
// directory (mode 0700, keys 0600): one CA, the apiserver's serving certificate, the apiserver's client
// certificate for kubelets, the stand-in kubelet's serving certificate, and the ServiceAccount signing key pair.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  /** The apiserver presents this to kubelets (exec, attach, port-forward, logs); CN kube-apiserver-kubelet-client. */
  kubeletClientCert: string;
  kubeletClientKey: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
  saKey: string;
  saPub: string;
  /** PEM text of the CA certificate. */
  caPem: string;
}

/** Subject alternative names of the apiserver certificate: loopback plus the in-cluster names and the first Service IP. */
export const APISERVER_SANS = [
  'IP:127.0.0.1',
  'IP:10.96.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${(err.stderr ?? err.message).trim().slice(0, 300)}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function leaf(dir: string, ca: { cert: string; key: string }, name: string, subject: string, ext: string[]): Promise<{ cert: string; key: string }> {
  const f = (s: string) => join(dir, `${name}.${s}`);
  await openssl(['req', ...EC, '-keyout', f('key'), '-out', f('csr'), '-subj', subject]);
  await writeFile(f('ext'), ext.join('\n'));
  // A random serial per certificate (the leaves are signed concurrently; a shared serial file would race).
  const serial = `0x${randomBytes(16).toString('hex')}`;
  await openssl(['x509', '-req', '-in', f('csr'), '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', serial, '-out', f('crt'), '-days', '365', '-extfile', f('ext')]);
  await chmod(f('key'), 0o600);
  return { cert: f('crt'), key: f('key') };
}

export async function generatePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl(['req', '-x509', ...EC, '-keyout', ca.key, '-out', ca.cert, '-days', '365', '-subj', '/CN=pipeops-realkube-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  await chmod(ca.key, 0o600);
  const server = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth'];
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth'];
  const [apiserver, kubeletClient, kubeletServing] = await Promise.all([
    leaf(dir, ca, 'apiserver', '/CN=kube-apiserver', [...server, `subjectAltName=${APISERVER_SANS.join(',')}`]),
    leaf(dir, ca, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client),
    leaf(dir, ca, 'kubelet', '/CN=pipeops-stand-in-kubelet', [...server, 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
  ]);
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey]);
  await chmod(saKey, 0o600);
  await openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]);
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    apiserverCert: apiserver.cert,
    apiserverKey: apiserver.key,
    kubeletClientCert: kubeletClient.cert,
    kubeletClientKey: kubeletClient.key,
    kubeletServingCert: kubeletServing.cert,
    kubeletServingKey: kubeletServing.key,
    saKey,
    saPub,
    caPem: await readFile(ca.cert, 'utf8'),
  };
}
