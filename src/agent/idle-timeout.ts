// Long-lived responses (SSE) opt out of the server's idle timeout one request at a time (S4, bun-notes §6): the
// server keeps a finite idleTimeout for everything else. The runtime knows how (src/runtime/types.ts).
import type { Context } from 'hono';
import { runtime } from '#runtime';

export function keepRequestOpen(c: Context): void {
  runtime.keepRequestOpen(c.req.raw, c.env);
}
