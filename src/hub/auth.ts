// Bearer-token checks for the hub: constant-time comparison that does not leak the token's length.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when `presented` equals one of `accepted`; every candidate is compared, in constant time each. */
export function tokenMatches(presented: string | undefined, accepted: readonly string[]): boolean {
  if (!presented) return false;
  const p = digest(presented);
  let ok = false;
  for (const a of accepted) if (a && timingSafeEqual(p, digest(a))) ok = true;
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
