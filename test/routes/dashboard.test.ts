import { afterEach, expect, test } from 'bun:test';
import { type AgentServer, createAgentApp, startAgentServer } from '../../src/agent/http-app.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';
import { HeadlessPage } from './cdp-client.ts';

const SECTIONS = ['connection-state', 'registered', 'cluster-id', 'heartbeat-age', 'workers-body', 'gateway-routes', 'm-rss', 'event-feed', 'log-feed'];

test('/dashboard is an HTML page with every section, a strict CSP and same-origin assets', async () => {
  const app = createAgentApp(makeDeps());
  const res = await app.request('/dashboard');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  const html = await res.text();
  expect(html.startsWith('<!doctype html>')).toBe(true);
  for (const id of SECTIONS) expect(html).toContain(`id="${id}"`);
  expect(html).toContain('src="/dashboard/app.js"');

  const js = await app.request('/dashboard/app.js');
  expect(js.headers.get('content-type')).toContain('javascript');
  const script = await js.text();
  // Data goes in through textContent only; the streams it follows are the real endpoints.
  expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  expect(script).toContain("new EventSource('/api/realtime/events')");
  expect(script).toContain("new EventSource('/api/realtime/logs?tail=100')");
  for (const id of SECTIONS) expect(script).toContain(`'${id}'`);
  expect((await app.request('/dashboard/app.css')).headers.get('content-type')).toContain('text/css');

  const root = await app.request('/');
  expect(root.status).toBe(302);
  expect(root.headers.get('location')).toBe('/dashboard');
});

// Optional: render in headless Chromium. Skipped (with a message) where no browser is installed.
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].map((b) => Bun.which(b)).find(Boolean);
if (!chromium) console.warn('dashboard render test skipped: no chromium on PATH (apt-get install -y chromium)');

let srv: AgentServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

test.skipIf(!chromium)(
  'dashboard renders live data and escapes it (headless Chromium)',
  async () => {
    const deps = makeDeps();
    srv = startAgentServer({ ...deps, port: 0, host: '127.0.0.1' });
    makeReady(deps.status);
    // A hostile value: must show up as text, never as markup.
    deps.status.update('registration', (s) => {
      s.clusterId = '<img src=x onerror=alert(1)>cluster-42';
    });
    const dir = `${process.env.TMPDIR ?? '/tmp'}/dash-${process.pid}`;
    const page = await HeadlessPage.open(chromium as string, `${srv.url}/dashboard`, dir);
    try {
      await page.waitFor("document.getElementById('cluster-id')?.textContent.includes('cluster-42')");
      // A live log line and a live status change must reach the page through the SSE streams.
      deps.logger.info('hello from the test <b>bold?</b>');
      deps.status.update('gateway', (s) => {
        s.gateway.routes = 7;
      });
      await page.waitFor("document.getElementById('log-feed')?.textContent.includes('hello from the test')");
      await page.waitFor("document.getElementById('gateway-routes')?.textContent === '7'");
      const dom = await page.evaluate<string>('document.documentElement.outerHTML');
      expect(dom).toContain('id="cluster-id">&lt;img src=x onerror=alert(1)&gt;cluster-42</dd>');
      expect(dom).toContain('class="badge ok">ready</span>');
      expect(dom).toContain('hello from the test &lt;b&gt;bold?&lt;/b&gt;');
      expect(dom).not.toContain('<img src="x"');
      expect(await page.evaluate<number>("document.querySelectorAll('#workers-body tr').length")).toBe(1);
      await page.screenshot(`${dir}/dashboard.png`);
      console.log(`dashboard screenshot: ${dir}/dashboard.png`);
      expect((await Bun.file(`${dir}/dashboard.png`).arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    } finally {
      await page.close();
    }
  },
  60_000,
);
