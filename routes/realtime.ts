// Live channels: the /ws dashboard socket and the SSE streams of status events and log lines.
import { Hono } from 'hono';
import { runtime } from '#runtime';
import { streamSSE } from 'hono/streaming';
import { corsHeaders, envelope, originAllowed, replyTo, statusData } from '../src/agent/dashboard-ws.ts';
import { type AgentApiDeps, apiTiming } from '../src/agent/http-types.ts';
import { keepRequestOpen } from '../src/agent/idle-timeout.ts';
import { healthUpdateData, parseTail, stateEventData } from '../src/agent/realtime-payloads.ts';
import { runtimeStats } from '../src/agent/runtime-stats.ts';
import { sleep } from '../src/timing/sleep.ts';
import { readRuntimeNow } from '../src/agent/runtime-readings.ts';

type ChangeDetail = { kind: string; at: number };

/** Log lines waiting for one slow SSE client before further lines are dropped. */
const MAX_QUEUED_LOG_LINES = 1000;

export function realtimeRoutes(deps: AgentApiDeps): Hono {
  const timing = apiTiming(deps);
  const { status, logs, logger } = deps;

  return new Hono()
    .get(
      '/ws',
      async (c, next) => {
        const origin = c.req.header('origin');
        if (!originAllowed(origin, deps.allowedOrigins)) {
          logger.warn({ origin }, 'dashboard websocket refused: origin not allowed');
          return c.json({ error: 'origin not allowed', origin }, 403);
        }
        await next();
      },
      runtime.upgradeWebSocket(() => {
        let onChange: ((e: Event) => void) | undefined;
        return {
          onOpen(_e, ws) {
            ws.send(JSON.stringify(envelope('status', statusData(status.snapshot()), Date.now())));
            onChange = (e) => {
              const d = (e as CustomEvent<ChangeDetail>).detail;
              const s = status.snapshot();
              ws.send(JSON.stringify(envelope('event', { ...d, ...stateEventData([d.kind], s, status.readiness(), Date.now()) }, Date.now())));
            };
            status.addEventListener('change', onChange);
          },
          onMessage(e, ws) {
            try {
              const reply = replyTo(e.data as string | ArrayBuffer, {
                now: Date.now(),
                snapshot: () => status.snapshot(),
                ready: () => status.readiness().ready,
                metrics: () => runtimeStats(status.snapshot(), readRuntimeNow(deps.version.bunVersion), Date.now()),
              });
              ws.send(JSON.stringify(reply));
            } catch (err) {
              logger.error({ err }, 'dashboard websocket message failed');
              ws.send(JSON.stringify(envelope('error', { message: 'internal error handling message' }, Date.now())));
            }
          },
          onClose() {
            if (onChange) status.removeEventListener('change', onChange);
            onChange = undefined;
          },
          onError(evt) {
            logger.warn({ err: (evt as Event & { error?: unknown }).error }, 'dashboard websocket error');
          },
        };
      }),
      // Reached only when the request was not a WebSocket upgrade.
      (c) => c.json({ error: 'websocket upgrade required', path: c.req.path }, 426),
    )
    .get('/api/realtime/events', (c) => {
      keepRequestOpen(c);
      for (const [k, v] of Object.entries(corsHeaders(c.req.header('origin'), deps.allowedOrigins))) c.header(k, v);
      const signal = c.req.raw.signal;
      return streamSSE(c, async (sse) => {
        let id = 0;
        const send = (event: string, data: unknown) => sse.writeSSE({ event, data: JSON.stringify(data), id: String(id++) });
        const pending = new Set<string>();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const flush = () => {
          timer = undefined;
          const kinds = [...pending];
          pending.clear();
          void send('state', stateEventData(kinds, status.snapshot(), status.readiness(), Date.now()));
        };
        const onChange = (e: Event) => {
          pending.add((e as CustomEvent<ChangeDetail>).detail.kind);
          timer ??= setTimeout(flush, timing.stateDebounceMs);
        };
        const stop = new AbortController();
        status.addEventListener('change', onChange);
        sse.onAbort(() => {
          status.removeEventListener('change', onChange);
          clearTimeout(timer);
          stop.abort();
        });
        signal.addEventListener('abort', () => sse.abort(), { once: true });

        const s = status.snapshot();
        await send('connected', { agent_id: s.agentId, version: s.version, timestamp: new Date().toISOString() });
        while (!sse.aborted) {
          await sleep(timing.healthUpdateMs, stop.signal);
          if (sse.aborted) break;
          await send('health_update', healthUpdateData(status.snapshot(), status.readiness(), Date.now()));
        }
      });
    })
    .get('/api/realtime/logs', (c) => {
      keepRequestOpen(c);
      const tail = parseTail(c.req.query('tail'), logs.capacity);
      const signal = c.req.raw.signal;
      return streamSSE(c, async (sse) => {
        // Take the backlog and subscribe in the same tick, then write through one chain: no gap, no duplicate.
        const backlog = tail === 0 ? [] : logs.recent(tail);
        let chain: Promise<void> = Promise.resolve();
        // Bounded: a client that cannot keep up loses lines (and is told how many), the agent never buffers without limit.
        let queued = 0;
        let dropped = 0;
        const write = (line: string) => {
          if (queued >= MAX_QUEUED_LOG_LINES) {
            dropped++;
            return;
          }
          queued++;
          chain = chain.then(async () => {
            if (dropped > 0 && queued <= MAX_QUEUED_LOG_LINES / 2) {
              const n = dropped;
              dropped = 0;
              await sse.writeSSE({ event: 'dropped', data: JSON.stringify({ lines: n }) });
            }
            await sse.writeSSE({ event: 'log', data: line });
            queued--;
          });
        };
        const onLine = (e: Event) => write((e as CustomEvent<string>).detail);
        logs.addEventListener('line', onLine);
        for (const l of backlog) write(l);
        await new Promise<void>((resolve) => {
          sse.onAbort(() => {
            logs.removeEventListener('line', onLine);
            resolve();
          });
          signal.addEventListener('abort', () => sse.abort(), { once: true });
        });
      });
    });
}
