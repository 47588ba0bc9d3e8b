// Per-process figures the benchmarks read from /proc (Linux): CPU time and resident memory.
import { readFileSync } from 'node:fs';

/** Microseconds per clock tick of /proc/<pid>/stat (USER_HZ = 100 on Linux). */
export const TICK_US = 1e6 / 100;

/** user + system clock ticks of a process (all its threads). */
export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Resident set size in MiB (0 when the process is gone). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}
