// Shapes /api/metrics/runtime and the runtime part of /api/health/detailed from raw readings.
// Pure: the route collects process.memoryUsage(), JSC heap stats and event-loop lag and passes them in.
import type { HeapStats } from '../runtime/types.ts';
import type { AgentSnapshot } from './status.ts';

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export interface RuntimeReadings {
  memory: MemoryReading;
  jsc: HeapStats;
  bunVersion: string;
  /** Delay of one macrotask turn, measured on demand (no background timer), or null if not measured. */
  eventLoopLagMs: number | null;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;

export function runtimeStats(s: AgentSnapshot, r: RuntimeReadings, now: number) {
  const workers = Object.entries(s.workers).map(([name, w]) => ({
    name,
    alive: w.alive,
    restarts: w.restarts,
    uptime_seconds: w.alive ? Math.max(0, Math.round((now - w.startedAt) / 1000)) : 0,
    ...(w.lastExit ? { last_exit: w.lastExit } : {}),
  }));
  return {
    memory: {
      rss_bytes: r.memory.rss,
      heap_used_bytes: r.memory.heapUsed,
      heap_total_bytes: r.memory.heapTotal,
      external_bytes: r.memory.external,
      rss_mb: mb(r.memory.rss),
      heap_used_mb: mb(r.memory.heapUsed),
    },
    jsc_heap: {
      heap_size_bytes: r.jsc.heapSize,
      heap_capacity_bytes: r.jsc.heapCapacity,
      extra_memory_bytes: r.jsc.extraMemorySize,
      object_count: r.jsc.objectCount,
      protected_object_count: r.jsc.protectedObjectCount,
    },
    runtime: {
      bun_version: r.bunVersion,
      uptime_seconds: Math.max(0, Math.round((now - s.startedAt) / 1000)),
      start_time: new Date(s.startedAt).toISOString(),
      event_loop_lag_ms: r.eventLoopLagMs,
      threads: 1 + workers.filter((w) => w.alive).length,
    },
    workers,
    timestamp: new Date(now).toISOString(),
  };
}
