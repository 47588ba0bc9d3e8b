// Where the built etcd, kube-apiserver and kube-controller-manager live (scripts/kube/build.sh caches them outside
// the repository, keyed by version), and building them on first use with the script's progress on stderr.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const KUBE_VERSION = process.env.KUBE_VERSION ?? 'v1.37.2';
export const ETCD_VERSION = process.env.ETCD_VERSION ?? 'v3.7.0';
const BUILD_SCRIPT = join(import.meta.dir, '..', '..', 'scripts', 'kube', 'build.sh');

export interface KubeBinaries {
  dir: string;
  etcd: string;
  apiserver: string;
  controllerManager: string;
}

export function kubeCacheDir(env: Record<string, string | undefined> = process.env): string {
  return join(env.PIPEOPS_TOOLS_DIR ?? join(homedir(), '.cache', 'pipeops-tools'), 'kube', KUBE_VERSION);
}

function binariesIn(dir: string): KubeBinaries {
  return { dir, etcd: join(dir, 'etcd'), apiserver: join(dir, 'kube-apiserver'), controllerManager: join(dir, 'kube-controller-manager') };
}

/** The cached binaries, or null when the build has not completed (build.sh writes `.complete` last). */
export function cachedBinaries(env: Record<string, string | undefined> = process.env): KubeBinaries | null {
  const dir = kubeCacheDir(env);
  const marker = join(dir, '.complete');
  // build.sh writes the marker last, naming the versions and its recipe revision (keep the two in step).
  if (!existsSync(marker) || readFileSync(marker, 'utf8').trim() !== `${KUBE_VERSION} ${ETCD_VERSION} recipe-2`) return null;
  const b = binariesIn(dir);
  return [b.etcd, b.apiserver, b.controllerManager].every((p) => existsSync(p)) ? b : null;
}

/** The cached binaries, building them first when missing (minutes; build.sh prints its progress on stderr). */
export async function ensureBinaries(): Promise<KubeBinaries> {
  const cached = cachedBinaries();
  if (cached) return cached;
  const code = await new Promise<number>((resolve, reject) => {
    const p = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (c) => resolve(c ?? 1));
  });
  const built = cachedBinaries();
  if (code !== 0 || !built) throw new Error(`building the Kubernetes control plane failed (scripts/kube/build.sh exit ${code}); see its output above`);
  return built;
}
