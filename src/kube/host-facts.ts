// Facts about the machine the agent runs on, for the register payload (protocol §2.5.1 `hostname`, `server_specs`).
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, hostname as osHostname } from 'node:os';

export type ServerSpecs = { cpu_cores?: number; memory_gb?: number; disk_gb?: number; os?: string };

/** Pure: builds `server_specs` from raw inputs; numeric keys are omitted when zero, `os` falls back to "linux". */
export function buildServerSpecs(raw: { cpuCores?: number; meminfo?: string; diskBytes?: number; osRelease?: string }): ServerSpecs {
  const out: ServerSpecs = {};
  if (raw.cpuCores && raw.cpuCores > 0) out.cpu_cores = Math.floor(raw.cpuCores);
  const memKb = Number(/^MemTotal:\s+(\d+)\s*kB/m.exec(raw.meminfo ?? '')?.[1] ?? 0);
  const memGb = Math.floor(memKb / 1024 ** 2);
  if (memGb > 0) out.memory_gb = memGb;
  const diskGb = Math.floor((raw.diskBytes ?? 0) / 2 ** 30);
  if (diskGb > 0) out.disk_gb = diskGb;
  const pretty = /^PRETTY_NAME=(.*)$/m.exec(raw.osRelease ?? '')?.[1]?.trim().replace(/^(["'])(.*)\1$/, '$2');
  out.os = pretty && pretty !== '' ? pretty : 'linux';
  return out;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function serverSpecs(): ServerSpecs {
  let diskBytes = 0;
  try {
    const s = statfsSync('/');
    diskBytes = Number(s.blocks) * Number(s.bsize);
  } catch {
    diskBytes = 0;
  }
  return buildServerSpecs({
    cpuCores: navigator.hardwareConcurrency || cpus().length,
    meminfo: readOr('/proc/meminfo'),
    diskBytes,
    osRelease: readOr('/etc/os-release'),
  });
}

/** OS hostname (the pod name in a cluster). */
export function hostname(): string {
  return osHostname();
}

export function hostFacts(): { hostname: string; server_specs: ServerSpecs } {
  return { hostname: hostname(), server_specs: serverSpecs() };
}
