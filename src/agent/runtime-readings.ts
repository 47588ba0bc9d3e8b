// Collects the raw runtime readings that runtimeStats() shapes (the I/O half of runtime-stats.ts).
import { runtime } from '#runtime';
import type { RuntimeReadings } from './runtime-stats.ts';

/** Delay of one timer turn: a cheap on-demand lag sample instead of a background monitor. */
export async function sampleEventLoopLag(): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  return Math.round((performance.now() - t0) * 100) / 100;
}

/** Everything but the lag sample, synchronously (for replies that must not wait a timer turn). */
export function readRuntimeNow(bunVersion: string): RuntimeReadings {
  const m = process.memoryUsage();
  return {
    memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external },
    jsc: runtime.heapStats(),
    bunVersion,
    eventLoopLagMs: null,
  };
}

export async function readRuntime(bunVersion: string): Promise<RuntimeReadings> {
  const lag = await sampleEventLoopLag();
  return { ...readRuntimeNow(bunVersion), eventLoopLagMs: lag };
}
