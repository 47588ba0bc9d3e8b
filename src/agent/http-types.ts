// Types shared by the agent's local HTTP API (src/agent/http-app.ts) and its route modules (routes/*.ts).
import type { LogRing, Logger } from '../log/logger.ts';
import type { AgentMetrics } from './metrics.ts';
import type { AgentStatus } from './status.ts';

/** Outcome of one connectivity probe. `detail` is for people: what was tried and what happened. */
export interface CheckResult {
  ok: boolean;
  latencyMs?: number;
  detail: string;
}

/** Real probes supplied by the main thread (S3: connectivity is checked, never hard-coded). */
export interface ConnectivityChecks {
  /** Live session state plus a reachability probe of the configured api_url. */
  controlPlane(): Promise<CheckResult>;
  /** `GET /version` on the Kubernetes API server. */
  kubernetes(): Promise<CheckResult>;
}

export interface BuildInfo {
  version: string;
  commit: string;
  buildDate: string;
  bunVersion: string;
}

/** Knobs that tests shorten; production uses the defaults in DEFAULT_API_TIMING. */
export interface ApiTiming {
  /** Interval of `health_update` on /api/realtime/events (upstream: 10 s). */
  healthUpdateMs: number;
  /** Bursts of status changes within this window become one `state` SSE event. */
  stateDebounceMs: number;
  /** Budget of each connectivity check before it counts as failed. */
  checkTimeoutMs: number;
}

export const DEFAULT_API_TIMING: ApiTiming = { healthUpdateMs: 10_000, stateDebounceMs: 250, checkTimeoutMs: 5_000 };

export interface AgentApiDeps {
  status: AgentStatus;
  metrics: AgentMetrics;
  logs: LogRing;
  logger: Logger;
  version: BuildInfo;
  /** Origins allowed on /ws; empty or containing `*` allows all. */
  allowedOrigins: string[];
  checks: ConnectivityChecks;
  timing?: Partial<ApiTiming>;
  /** `agent.api_token`: lets non-loopback clients use the dashboard, /ws, the streams and /api/* (empty: nobody). */
  apiToken?: string;
  /** `agent.truthful_readiness_probe` (default true): false restores upstream's always-200 /ready. */
  truthfulReadiness?: boolean;
}

export function apiTiming(deps: Pick<AgentApiDeps, 'timing'>): ApiTiming {
  return { ...DEFAULT_API_TIMING, ...deps.timing };
}
