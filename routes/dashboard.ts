// The local HTML dashboard and its two assets, all inlined (no files read at runtime).
import { Hono } from 'hono';
import type { AgentApiDeps } from '../src/agent/http-types.ts';
import { DASHBOARD_HTML } from '../src/agent/dashboard-html.ts';
import { DASHBOARD_JS } from '../src/agent/dashboard-script.ts';
import { DASHBOARD_CSS } from '../src/agent/dashboard-style.ts';

// Same-origin only: the page loads its own script and style and talks to this agent alone.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function dashboardRoutes(_deps?: AgentApiDeps): Hono {
  return new Hono()
    .get('/', (c) => c.redirect('/dashboard', 302))
    .get('/dashboard', (c) => c.html(DASHBOARD_HTML, 200, { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' }))
    .get('/dashboard/app.js', (c) => c.body(DASHBOARD_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }))
    .get('/dashboard/app.css', (c) => c.body(DASHBOARD_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' }));
}
