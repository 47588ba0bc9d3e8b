// Cluster credentials at rest (clusters.k8s_service_token): AES-256-GCM with WebCrypto, so a copied hub.db or
// WAL file leaks nothing without the key. A stored value is `v1:<key id>:<iv b64>:<ciphertext b64>`; the key id
// (first 8 hex digits of the key's SHA-256) says which key decrypts it, so previous keys keep working during a
// rotation. The cluster id is the additional data: a ciphertext copied to another row does not decrypt.
import { randomBytes } from 'node:crypto';

const PREFIX = 'v1:';

export function isEncrypted(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** A 32-byte key written as base64 or as 64 hex digits (surrounding whitespace ignored); null otherwise. */
export function parseKey(text: string): Uint8Array<ArrayBuffer> | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Uint8Array.from(Buffer.from(t, 'hex'));
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(t)) {
    const b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (b.length === 32) return Uint8Array.from(b);
  }
  return null;
}

/** A fresh key as base64 text (what the hub writes to `<state>.key`). */
export function newKeyText(): string {
  return randomBytes(32).toString('base64');
}

interface Key {
  id: string;
  key: CryptoKey;
}

async function importKey(raw: Uint8Array<ArrayBuffer>): Promise<Key> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', raw));
  const id = Buffer.from(digest.subarray(0, 4)).toString('hex');
  return { id, key: await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']) };
}

export class CredentialCipher {
  readonly #current: Key;
  readonly #byId: Map<string, Key>;

  private constructor(current: Key, previous: Key[]) {
    this.#current = current;
    this.#byId = new Map([...previous, current].map((k) => [k.id, k]));
  }

  /** `current` encrypts and decrypts; `previous` keys only decrypt (rotation). */
  static async create(current: Uint8Array<ArrayBuffer>, previous: readonly Uint8Array<ArrayBuffer>[] = []): Promise<CredentialCipher> {
    return new CredentialCipher(await importKey(current), await Promise.all(previous.map(importKey)));
  }

  async encrypt(plain: string, context: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) }, this.#current.key, new TextEncoder().encode(plain));
    return `${PREFIX}${this.#current.id}:${Buffer.from(iv).toString('base64')}:${Buffer.from(ct).toString('base64')}`;
  }

  /** The plaintext; throws with a reason an operator can act on when no configured key fits. */
  async decrypt(stored: string, context: string): Promise<string> {
    const [, id, iv, ct] = stored.split(':');
    const k = id ? this.#byId.get(id) : undefined;
    if (!k || !iv || !ct) throw new Error(`encrypted with key ${id ?? '?'}, which is neither credentials.key nor one of credentials.previous_keys`);
    try {
      const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(Buffer.from(iv, 'base64')), additionalData: new TextEncoder().encode(context) }, k.key, new Uint8Array(Buffer.from(ct, 'base64')));
      return new TextDecoder().decode(plain);
    } catch {
      throw new Error(`does not decrypt with key ${id} (damaged, or moved from another row)`);
    }
  }

  /** True when `stored` is already encrypted with the current key (nothing to re-encrypt). */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}${this.#current.id}:`);
  }
}
