// Runs the connectivity checks behind /api/status/connectivity with a budget each and sums them up (S3).
import type { CheckResult, ConnectivityChecks } from './http-types.ts';

export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy';

/** Never rejects: a thrown error or an exceeded budget becomes a failed result saying so. */
export async function runCheck(check: () => Promise<CheckResult>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, latencyMs: timeoutMs, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const res = await Promise.race([
      check().then(
        (r) => ({ ...r, latencyMs: r.latencyMs ?? Math.round(performance.now() - started) }),
        (e: unknown) => ({ ok: false, latencyMs: Math.round(performance.now() - started), detail: `check failed: ${e instanceof Error ? e.message : String(e)}` }),
      ),
      timeout,
    ]);
    return res;
  } finally {
    clearTimeout(timer);
  }
}

export function overallStatus(results: CheckResult[]): OverallStatus {
  const ok = results.filter((r) => r.ok).length;
  if (ok === results.length) return 'healthy';
  return ok === 0 ? 'unhealthy' : 'degraded';
}

export function connectivityBody(tests: Record<string, CheckResult>, now: number) {
  const shaped: Record<string, { status: 'pass' | 'fail'; ok: boolean; latency_ms: number | null; detail: string }> = {};
  for (const [name, r] of Object.entries(tests))
    shaped[name] = { status: r.ok ? 'pass' : 'fail', ok: r.ok, latency_ms: r.latencyMs ?? null, detail: r.detail };
  return { overall_status: overallStatus(Object.values(tests)), tests: shaped, timestamp: new Date(now).toISOString() };
}

export async function runConnectivity(checks: ConnectivityChecks, timeoutMs: number, now: () => number = Date.now) {
  const [controlPlane, kubernetes] = await Promise.all([
    runCheck(() => checks.controlPlane(), timeoutMs),
    runCheck(() => checks.kubernetes(), timeoutMs),
  ]);
  return connectivityBody({ control_plane: controlPlane, kubernetes }, now());
}
