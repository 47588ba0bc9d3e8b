// Long-lived responses (SSE) opt out of the Bun server's idle timeout one request at a time (S4, bun-notes §6):
// the server keeps a finite idleTimeout for everything else.
import type { Context } from 'hono';

interface TimeoutCapable {
  timeout(req: Request, seconds: number): void;
}

/** No-op when the server has no per-request timeout (Deno.serve) or there is no server (app.request() in tests). */
export function keepRequestOpen(c: Context): void {
  const env = c.env as unknown;
  if (env && typeof (env as Partial<TimeoutCapable>).timeout === 'function') (env as TimeoutCapable).timeout(c.req.raw, 0);
}
