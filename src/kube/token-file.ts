// The bearer token of a ServiceAccount mount, re-read as it rotates. Its own module so that the workers, which only
// rebuild a KubeTarget from data (src/threads/kube-access.ts), do not load the kubeconfig parser and YAML with it.
import { readFileSync } from 'node:fs';

/** Returns a token getter that re-reads `path` at most every `refreshMs`, keeping the last good value on a read error. */
export function tokenFileReader(path: string, refreshMs = 60_000, now: () => number = Date.now): () => string | undefined {
  let cached: string | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (now() - readAt >= refreshMs) {
      try {
        const t = readFileSync(path, 'utf8').trim();
        cached = t === '' ? cached : t;
      } catch {
        // Keep the last token: a rotation briefly replaces the file (atomic symlink swap), a read may race it.
      }
      readAt = now();
    }
    return cached;
  };
}
