// Per-process figures the benchmarks read from /proc (Linux): CPU time and resident memory.
import { readdirSync, readFileSync } from 'node:fs';

/** Microseconds per clock tick of /proc/<pid>/stat (USER_HZ = 100 on Linux). */
export const TICK_US = 1e6 / 100;

/** user + system clock ticks of a process (all its threads). */
export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * user and system clock ticks of each thread of a process, keyed by thread name (threads of one name are summed:
 * what a relay spends in its JS thread, its HTTP/TLS threads and its GC helpers, user and kernel apart).
 */
export function threadTicks(pid: number): Record<string, { user: number; sys: number }> {
  const out: Record<string, { user: number; sys: number }> = {};
  for (const stat of threadFiles(pid, 'stat')) {
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[^A-Za-z]+/g, '_');
    const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    const t = (out[name] ??= { user: 0, sys: 0 });
    t.user += Number(f[11]);
    t.sys += Number(f[12]);
  }
  return out;
}

/** Resident set size in MiB (0 when the process is gone). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/**
 * Context switches of a process's threads of one name (from /proc/<pid>/task/<tid>/status): voluntary (the thread
 * waited) and involuntary (it was preempted while runnable).
 */
export function threadSwitches(pid: number, name: string): { voluntary: number; involuntary: number } {
  let voluntary = 0;
  let involuntary = 0;
  for (const status of threadFiles(pid, 'status')) {
    if (/^Name:\s+(.*)$/m.exec(status)?.[1]?.replace(/[^A-Za-z]+/g, '_') !== name) continue;
    voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return { voluntary, involuntary };
}

/** The text of one /proc file (`stat`, `status`) of every thread of a process, skipping threads that ended meanwhile. */
function* threadFiles(pid: number, file: string): Generator<string> {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      yield readFileSync(`/proc/${pid}/task/${tid}/${file}`, 'utf8');
    } catch {
      // the thread ended meanwhile
    }
  }
}
