// The last line of isolation around the session's message loop (either socket: controller or gateway): a
// throw while handling one inbound message is logged and counted, and the loop goes on with the next one.
// Request- and stream-level failures are handled closer to their state (TunnelDispatcher.handle ends the one
// request or stream); what reaches this point is session-level (ping, error, register_success, decoding).
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';

export function isolateMessages(handle: (ev: MessageEvent) => void, metric: (u: MetricUpdate) => void, log: Logger): (ev: MessageEvent) => void {
  return (ev) => {
    try {
      handle(ev);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      try {
        metric({ name: 'pipeops_tunnel_handler_errors_total', op: 'inc', labels: { type: 'session', error: err.name || 'Error' } });
        log.error({ err: err.message, stack: err.stack, bytes: typeof ev.data === 'string' ? ev.data.length : (ev.data as ArrayBuffer).byteLength }, 'control message handling failed; session continues');
      } catch {
        // Reporting must not be the thing that escapes.
      }
    }
  };
}
