// The one form of a request path that the public gateway matches routes against and forwards: dot segments
// resolved (also when percent-encoded), empty segments (`//`) dropped. A path whose meaning would change again
// downstream — an encoded slash or backslash hiding a dot segment, a raw backslash, `..` above the root, `..;` —
// is refused, so a backend never receives a path other than the one that was matched. Pure.

export type NormalisedPath = { ok: true; path: string } | { ok: false; reason: string };

/** Only the escapes that change how a path splits into segments matter here: `.`, `/` and `\`. */
function decode(segment: string): string {
  return segment.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
}

export function normaliseRequestPath(raw: string): NormalisedPath {
  if (!raw.startsWith('/')) return { ok: false, reason: 'the request path must start with /' };
  if (raw.includes('\\')) return { ok: false, reason: 'the request path contains a backslash' };
  if (/%(?![0-9a-fA-F]{2})/.test(raw)) return { ok: false, reason: 'the request path has an invalid percent-escape' };
  const out: string[] = [];
  // RFC 3986 §5.2.4: a path ending in a dot segment keeps a trailing slash (`/a/b/..` → `/a/`).
  let endsInDir = false;
  for (const segment of raw.split('/')) {
    endsInDir = true;
    if (segment === '') continue;
    const plain = decode(segment);
    // Some servers treat `..;x` (path parameters) as `..`.
    const dots = plain.split(';')[0]!;
    if (dots === '.') continue;
    if (dots === '..') {
      if (plain !== dots) return { ok: false, reason: 'the request path contains a dot segment with parameters' };
      if (!out.length) return { ok: false, reason: 'the request path climbs above the root' };
      out.pop();
      continue;
    }
    if (/[/\\]/.test(plain) && plain.split(/[/\\]/).some((s) => s === '.' || s === '..' || s.split(';')[0] === '..')) {
      return { ok: false, reason: 'the request path hides a dot segment behind an encoded slash' };
    }
    out.push(segment);
    endsInDir = false;
  }
  return { ok: true, path: `/${out.join('/')}${endsInDir && out.length > 0 ? '/' : ''}` };
}
