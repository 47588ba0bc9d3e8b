// The dashboard page, inlined so a compiled binary serves it without reading files (bun-notes pitfall 11).
// Static markup only: every value is filled in by dashboard-script.ts through textContent.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PipeOps agent</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script defer src="/dashboard/app.js"></script>
</head>
<body>
<header>
  <h1>PipeOps agent</h1>
  <span id="agent-version" class="muted"></span>
  <span id="ready-badge" class="badge">loading…</span>
</header>
<main>
  <section id="connection" aria-labelledby="h-connection">
    <h2 id="h-connection">Connection</h2>
    <dl>
      <dt>State</dt><dd id="connection-state">–</dd>
      <dt>Registered</dt><dd id="registered">–</dd>
      <dt>Mode</dt><dd id="mode">–</dd>
      <dt>Endpoint</dt><dd id="endpoint">–</dd>
      <dt>Cluster id</dt><dd id="cluster-id">–</dd>
      <dt>Cluster name</dt><dd id="cluster-name">–</dd>
      <dt>Last heartbeat</dt><dd id="heartbeat-age">–</dd>
      <dt>Heartbeat failures</dt><dd id="heartbeat-failures">–</dd>
      <dt>Kubernetes API</dt><dd id="kubernetes">–</dd>
    </dl>
    <ul id="reasons" class="reasons"></ul>
  </section>
  <section id="workers" aria-labelledby="h-workers">
    <h2 id="h-workers">Workers</h2>
    <table><thead><tr><th>Worker</th><th>Alive</th><th>Restarts</th><th>Last exit</th></tr></thead>
    <tbody id="workers-body"></tbody></table>
  </section>
  <section id="gateway" aria-labelledby="h-gateway">
    <h2 id="h-gateway">Gateway routes</h2>
    <dl>
      <dt>Ingress sync</dt><dd id="gateway-enabled">–</dd>
      <dt>Routing mode</dt><dd id="gateway-mode">–</dd>
      <dt>Managed routes</dt><dd id="gateway-routes">–</dd>
    </dl>
  </section>
  <section id="metrics" aria-labelledby="h-metrics">
    <h2 id="h-metrics">Key metrics</h2>
    <dl>
      <dt>Uptime</dt><dd id="m-uptime">–</dd>
      <dt>RSS</dt><dd id="m-rss">–</dd>
      <dt>JS heap used</dt><dd id="m-heap">–</dd>
      <dt>JSC objects</dt><dd id="m-objects">–</dd>
      <dt>Event-loop lag</dt><dd id="m-lag">–</dd>
      <dt>Threads</dt><dd id="m-threads">–</dd>
      <dt>Heartbeats sent / errors</dt><dd id="m-heartbeats">–</dd>
    </dl>
    <p class="muted">Prometheus: <a href="/metrics">/metrics</a></p>
  </section>
  <section id="events" class="wide" aria-labelledby="h-events">
    <h2 id="h-events">Live events <span id="events-status" class="muted"></span></h2>
    <ol id="event-feed" class="feed"></ol>
  </section>
  <section id="logs" class="wide" aria-labelledby="h-logs">
    <h2 id="h-logs">Live logs <span id="logs-status" class="muted"></span></h2>
    <ol id="log-feed" class="feed mono"></ol>
  </section>
</main>
</body>
</html>
`;
