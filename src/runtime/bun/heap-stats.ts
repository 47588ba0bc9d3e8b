// The one place that touches `bun:jsc`: JavaScriptCore heap numbers for /metrics and /api/metrics/runtime.
// process.memoryUsage() and prom-client's heap collectors are approximations on Bun (bun-notes §9).
import { heapStats } from 'bun:jsc';
import type { HeapStats } from '../types.ts';

/**
 * Note: JSC updates these figures at garbage collection, so they describe the heap as of the last GC
 * (measured: objectCount 0 and heapSize 194 B in a fresh process until the first collection runs).
 */
export function jscHeapStats(): HeapStats {
  const h = heapStats();
  return {
    heapSize: h.heapSize,
    heapCapacity: h.heapCapacity,
    extraMemorySize: h.extraMemorySize,
    objectCount: h.objectCount,
    protectedObjectCount: h.protectedObjectCount,
  };
}
