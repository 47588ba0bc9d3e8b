// Bearer-token checks for the hub: constant-time comparison that does not leak the token's length.
import { hash, timingSafeEqual } from 'node:crypto';

// One-shot: a Hash object per call (createHash/update/digest) was most of the check's cost on every kube gateway request.
const digest = (s: string) => hash('sha256', s, 'buffer');

/**
 * Digests of the configured token lists, computed once instead of at every request. Keyed by the list and checked
 * against a copy of its entries (server-side values compared with each other), so a list changed in place is re-hashed.
 */
const acceptedDigests = new WeakMap<readonly string[], { tokens: string[]; digests: Buffer[] }>();

/** True when `presented` equals one of `accepted`; every candidate is compared, in constant time each. */
export function tokenMatches(presented: string | undefined, accepted: readonly string[]): boolean {
  if (!presented) return false;
  const p = digest(presented);
  let cached = acceptedDigests.get(accepted);
  if (!cached || cached.tokens.length !== accepted.length || cached.tokens.some((t, i) => t !== accepted[i])) {
    cached = { tokens: [...accepted], digests: accepted.map((a) => (a ? digest(a) : Buffer.alloc(0))) };
    acceptedDigests.set(accepted, cached);
  }
  let ok = false;
  for (const d of cached.digests) if (d.length && timingSafeEqual(p, d)) ok = true;
  return ok;
}

/** sha256 hex of a token: what the hub stores to recognise a token later (never the token itself). */
export function tokenDigest(token: string): string {
  return digest(token).toString('hex');
}

/** The token from an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m?.[1]?.trim() || undefined;
}
