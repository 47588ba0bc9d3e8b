// Spawning worker threads. Every worker file must also be a build entrypoint of the compiled binary
// (bun-notes §3); the URL form below is the one Bun resolves both from source and inside the binary.
import type { WorkerName } from '../agent/thread-messages.ts';

const URLS: Record<WorkerName, URL> = {
  tunnel: new URL('../../workers/tunnel.ts', import.meta.url),
  heartbeat: new URL('../../workers/heartbeat.ts', import.meta.url),
  ingress: new URL('../../workers/ingress.ts', import.meta.url),
};

export function spawnWorker(name: WorkerName): Worker {
  return new Worker(URLS[name].href, { name });
}
