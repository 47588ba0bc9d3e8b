// Browser script of the dashboard (served at /dashboard/app.js). Plain ES2020, no build step.
// Every value from the agent is written with textContent or createElement: never parsed as HTML.

export const DASHBOARD_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const set = (id, v, cls) => { const el = $(id); if (!el) return; el.textContent = v == null || v === '' ? '–' : String(v); if (cls !== undefined) el.className = cls; };
  const yesNo = (b) => (b ? 'yes' : 'no');
  const mb = (b) => (typeof b === 'number' ? (b / 1048576).toFixed(1) + ' MiB' : '–');
  const age = (iso) => { if (!iso) return 'never'; const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); return s < 120 ? s + ' s ago' : Math.round(s / 60) + ' min ago'; };
  let lastHeartbeat = null;

  function renderReady(ready, reasons) {
    set('ready-badge', ready ? 'ready' : 'not ready', 'badge ' + (ready ? 'ok' : 'bad'));
    const ul = $('reasons');
    ul.replaceChildren(...(reasons || []).map((r) => { const li = document.createElement('li'); li.textContent = r; return li; }));
  }
  function renderWorkers(workers) {
    const rows = Object.entries(workers || {}).map(([name, w]) => {
      const tr = document.createElement('tr');
      for (const [v, cls] of [[name], [yesNo(w.alive), w.alive ? 'ok' : 'bad'], [w.restarts], [w.lastExit || '']]) {
        const td = document.createElement('td'); td.textContent = String(v); if (cls) td.className = cls; tr.append(td);
      }
      return tr;
    });
    if (rows.length === 0) { const tr = document.createElement('tr'); const td = document.createElement('td'); td.colSpan = 4; td.textContent = 'no workers reported'; tr.append(td); rows.push(tr); }
    $('workers-body').replaceChildren(...rows);
  }
  function renderGateway(g) {
    if (!g) return;
    set('gateway-enabled', yesNo(g.enabled));
    set('gateway-mode', g.routingMode);
    set('gateway-routes', g.routes);
  }
  function renderKube(k) {
    if (!k) return;
    const txt = k.reachable == null ? 'unknown' : k.reachable ? 'reachable' + (k.version ? ' (' + k.version + ')' : '') : 'unreachable' + (k.error ? ': ' + k.error : '');
    set('kubernetes', txt, k.reachable ? 'ok' : k.reachable === false ? 'bad' : '');
  }
  function renderState(d) {
    renderReady(d.ready, d.reasons);
    set('connection-state', d.connection_state, d.connection_state === 'connected' ? 'ok' : 'warn');
    set('registered', yesNo(d.registered), d.registered ? 'ok' : 'bad');
    set('mode', d.mode);
    set('cluster-id', d.cluster_id);
    set('heartbeat-failures', d.heartbeat_failures);
    lastHeartbeat = d.last_heartbeat; set('heartbeat-age', age(lastHeartbeat));
    renderWorkers(d.workers); renderGateway(d.gateway); renderKube(d.kubernetes);
  }
  async function loadDetailed() {
    const d = await (await fetch('/api/health/detailed')).json();
    set('agent-version', 'v' + d.agent.version);
    renderReady(d.connection_health.healthy, d.reasons);
    set('connection-state', d.tunnel.state, d.tunnel.state === 'connected' ? 'ok' : 'warn');
    set('registered', yesNo(d.connection_health.registered), d.connection_health.registered ? 'ok' : 'bad');
    set('mode', d.tunnel.mode); set('endpoint', d.tunnel.endpoint);
    set('cluster-id', d.agent.cluster_id); set('cluster-name', d.agent.cluster_name);
    set('heartbeat-failures', d.connection_health.consecutive_failures);
    lastHeartbeat = d.connection_health.last_heartbeat; set('heartbeat-age', age(lastHeartbeat));
    set('m-heartbeats', d.connection_health.heartbeats_sent + ' / ' + d.connection_health.heartbeat_errors);
    set('kubernetes', d.connectivity.kubernetes + (d.connectivity.kubernetes_version ? ' (' + d.connectivity.kubernetes_version + ')' : ''), d.connectivity.kubernetes === 'reachable' ? 'ok' : d.connectivity.kubernetes === 'unreachable' ? 'bad' : '');
    renderWorkers(d.runtime.workers); renderGateway(d.gateway);
  }
  async function loadRuntime() {
    const r = await (await fetch('/api/metrics/runtime')).json();
    set('m-uptime', r.runtime.uptime_seconds + ' s'); set('m-rss', mb(r.memory.rss_bytes)); set('m-heap', mb(r.memory.heap_used_bytes));
    set('m-objects', r.jsc_heap.object_count); set('m-lag', r.runtime.event_loop_lag_ms == null ? '–' : r.runtime.event_loop_lag_ms + ' ms');
    set('m-threads', r.runtime.threads);
  }
  function append(listId, text, cls, max) {
    const li = document.createElement('li'); li.textContent = text; if (cls) li.className = cls;
    const list = $(listId); list.prepend(li);
    while (list.children.length > max) list.lastElementChild.remove();
  }
  function refresh() { loadDetailed().catch(() => {}); loadRuntime().catch(() => {}); }

  function connectEvents() {
    const es = new EventSource('/api/realtime/events');
    es.addEventListener('open', () => set('events-status', '(live)'));
    es.addEventListener('error', () => set('events-status', '(reconnecting…)'));
    es.addEventListener('connected', () => append('event-feed', new Date().toLocaleTimeString() + '  connected to event stream', '', 200));
    es.addEventListener('state', (e) => {
      const d = JSON.parse(e.data); renderState(d);
      append('event-feed', new Date(d.timestamp).toLocaleTimeString() + '  ' + d.kinds.join(', ') + ' → ' + d.connection_state + (d.ready ? ', ready' : ', not ready'), d.ready ? 'ok' : 'warn', 200);
    });
    es.addEventListener('health_update', (e) => {
      const d = JSON.parse(e.data);
      append('event-feed', new Date(d.timestamp).toLocaleTimeString() + '  health: ' + d.status, d.status === 'healthy' ? '' : 'warn', 200);
      refresh();
    });
  }
  function connectLogs() {
    const es = new EventSource('/api/realtime/logs?tail=100');
    es.addEventListener('open', () => set('logs-status', '(live)'));
    es.addEventListener('error', () => set('logs-status', '(reconnecting…)'));
    es.addEventListener('log', (e) => {
      let text = e.data, cls = '';
      try {
        const l = JSON.parse(e.data);
        cls = 'lvl-' + String(l.level);
        const { time, level, msg, ...rest } = l;
        text = (time || '') + ' ' + String(level).toUpperCase() + ' ' + (msg || '') + (Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '');
      } catch {}
      append('log-feed', text, cls, 500);
    });
  }
  setInterval(() => set('heartbeat-age', age(lastHeartbeat)), 1000);
  refresh(); connectEvents(); connectLogs();
})();
`;
