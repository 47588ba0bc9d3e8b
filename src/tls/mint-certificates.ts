// Mints a CA and CA-signed server certificates in-process (WebCrypto + @peculiar/x509), so neither the hub's
// Kubernetes API gateway nor the sandbox needs an openssl binary: the distroless image has none.
// Keys are ECDSA P-256 in PKCS#8 PEM ("BEGIN PRIVATE KEY"), the format `openssl req -newkey ec -nodes` wrote,
// so a CA minted by an older hub with openssl keeps signing new server certificates.
// reflect-metadata first: @peculiar/x509's DI container (tsyringe) needs the Reflect polyfill at load time.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export interface PemPair {
  certPem: string;
  keyPem: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A positive random 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function serialNumber(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function keyPem(k: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', k));
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** A self-signed CA: basicConstraints critical CA:TRUE, keyCertSign/cRLSign, subject and authority key ids. */
export async function mintCa(commonName: string, days: number): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [commonName] }],
    ...validity(days),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** `DNS:name` / `IP:address` entries, as in openssl's subjectAltName syntax. */
function generalNames(sans: readonly string[]): x509.JsonGeneralName[] {
  return sans.map((s) => {
    const i = s.indexOf(':');
    const kind = s.slice(0, i);
    const value = s.slice(i + 1);
    if (kind === 'DNS') return { type: 'dns', value };
    if (kind === 'IP') return { type: 'ip', value };
    throw new Error(`subject alternative name ${JSON.stringify(s)}: expected DNS:<name> or IP:<address>`);
  });
}

/** A server certificate signed by `ca`: CA:FALSE, digitalSignature+keyEncipherment, serverAuth, the given SANs. */
export async function mintServerCert(ca: PemPair, commonName: string, sans: readonly string[], days: number): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), EC, false, ['sign']);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [commonName] }],
    issuer: caCert.subjectName,
    ...validity(days),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(generalNames(sans)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}
