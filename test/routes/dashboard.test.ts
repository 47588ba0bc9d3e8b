import { afterEach, expect, test } from 'bun:test';
import { type AgentServer, createAgentApp, startAgentServer } from '../../src/agent/http-app.ts';
import { makeDeps, makeReady } from '../agent/api-fixture.ts';

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
    deps.logger.info('hello from the test <b>bold?</b>');
    const dir = `${process.env.TMPDIR ?? '/tmp'}/dash-${process.pid}`;
    const proc = Bun.spawn(
      [chromium as string, '--headless=new', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=3000', `--user-data-dir=${dir}`, '--dump-dom', `${srv.url}/dashboard`],
      { stdout: 'pipe', stderr: 'pipe' },
    );
    const dom = await new Response(proc.stdout).text();
    await proc.exited;
    expect(dom).toContain('id="cluster-id">&lt;img src=x onerror=alert(1)&gt;cluster-42</dd>');
    expect(dom).toContain('class="badge ok">ready</span>');
    expect(dom).toContain('hello from the test &lt;b&gt;bold?&lt;/b&gt;');
    expect(dom).not.toContain('<img src="x"');
    const shot = Bun.spawn(
      [chromium as string, '--headless=new', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=3000', `--user-data-dir=${dir}`, '--window-size=1280,1000', `--screenshot=${dir}/dashboard.png`, `${srv.url}/dashboard`],
      { stdout: 'ignore', stderr: 'ignore' },
    );
    await shot.exited;
    expect(await Bun.file(`${dir}/dashboard.png`).exists()).toBe(true);
  },
  60_000,
);
