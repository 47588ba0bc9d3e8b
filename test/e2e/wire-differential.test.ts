// Differential test (issue 10 item 8): control-plane traffic replayed against the real agent process, and every
// message the agent emits compared with protocol.md §2–§5 — envelope keys, payload field names and JSON types,
// header-name spelling in `headers` maps, error-text prefixes, numbers vs strings, binary layouts, dial URLs.
// Each shape is a validator written from the spec; the test fails on any difference and on any shape not exercised.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { decodeResponseFrame, encodeIdFrame, frameRequestId } from '../../src/protocol/binary-frame.ts';
import { EXTENSIONS, formatExtensions } from '../../src/protocol/extensions.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { type AgentProcess, CP_AGENT_TOKEN, type FakeControlPlane, fakeControlPlane, spawnAgent } from '../support/fake-control-plane.ts';
import { tempDir } from '../support/hub-agent.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { topLevelKeys } from '../support/json-keys.ts';

type Json = Record<string, unknown>;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A field rule: JSON type (and optional value check). `?` suffix on the key = optional. */
type Rule = 'string' | 'int' | 'bool' | 'object' | 'array' | 'null' | ((v: unknown) => string | null);

function check(where: string, obj: unknown, rules: Record<string, Rule | Rule[]>, opts: { extra?: boolean } = {}): string[] {
  const out: string[] = [];
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [`${where}: not an object`];
  const o = obj as Json;
  const known = new Set<string>();
  for (const [k0, r] of Object.entries(rules)) {
    const optional = k0.endsWith('?');
    const k = optional ? k0.slice(0, -1) : k0;
    known.add(k);
    if (!(k in o)) {
      if (!optional) out.push(`${where}.${k}: missing`);
      continue;
    }
    const alts = Array.isArray(r) ? r : [r];
    const errs = alts.map((a) => typeOk(o[k], a));
    if (errs.every((e) => e !== null)) out.push(`${where}.${k}: ${errs.join(' / ')} (got ${JSON.stringify(o[k])?.slice(0, 80)})`);
  }
  if (!opts.extra) for (const k of Object.keys(o)) if (!known.has(k)) out.push(`${where}.${k}: not in the spec`);
  return out;
}

function typeOk(v: unknown, r: Rule): string | null {
  if (typeof r === 'function') return r(v);
  switch (r) {
    case 'string':
      return typeof v === 'string' ? null : 'expected a string';
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) ? null : 'expected an integer number';
    case 'bool':
      return typeof v === 'boolean' ? null : 'expected a boolean';
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'expected an object';
    case 'array':
      return Array.isArray(v) ? null : 'expected an array';
    case 'null':
      return v === null ? null : 'expected null';
  }
}

const lit = (...vals: unknown[]) => (v: unknown) => (vals.includes(v) ? null : `expected one of ${JSON.stringify(vals)}`);
const match = (re: RegExp) => (v: unknown) => (typeof v === 'string' && re.test(v) ? null : `expected a string matching ${re}`);

/** Go's CanonicalMIMEHeaderKey: what upstream's `http.Header` maps carry (`Content-Type`, `X-Kubernetes-Pf-Flowschema-Uid`). */
function goCanonical(k: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k)) return k;
  return k
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p))
    .join('-');
}

const headerMap = (allowNull: boolean) => (v: unknown) => {
  if (v === null) return allowNull ? null : 'headers must not be null';
  if (typeof v !== 'object' || Array.isArray(v)) return 'headers must be an object';
  for (const [k, vs] of Object.entries(v as Json)) {
    if (k !== goCanonical(k)) return `header name ${JSON.stringify(k)} is not in Go's canonical spelling ${JSON.stringify(goCanonical(k))}`;
    if (!Array.isArray(vs) || vs.some((x) => typeof x !== 'string')) return `header ${k} must be an array of strings`;
  }
  return null;
};

/** The spec's message shapes: type (and variant) → payload validator, and the request_id rule. */
interface Shape {
  requestId: 'required' | 'absent';
  payload(p: unknown): string[];
}
const SHAPES: Record<string, Shape> = {
  // §2.5.1
  register: {
    requestId: 'required',
    payload: (p) => [
      ...check('register', p, {
        agent_id: 'string',
        name: 'string',
        k8s_version: 'string',
        hostname: 'string',
        agent_version: 'string',
        server_ip: 'string',
        region: 'string',
        cloud_provider: 'string',
        tunnel_port_config: 'object',
        labels: 'object',
        server_specs: 'object',
        features: 'object',
        'metadata?': 'object',
        'cluster_id?': 'string',
        'k8s_service_token?': 'string',
      }),
      ...check('register.tunnel_port_config', (p as Json).tunnel_port_config, { kubernetes_api: lit(6443), kubelet: lit(10250), agent_http: 'int' }),
      ...check('register.server_specs', (p as Json).server_specs, { 'cpu_cores?': 'int', 'memory_gb?': 'int', 'disk_gb?': 'int', 'os?': 'string' }),
      ...check('register.features', (p as Json).features, {
        supports_streaming: lit(true),
        supports_binary_protocol: lit(true),
        supports_compression: lit(true),
        supports_websocket_proxy: lit(true),
        supports_gateway: lit(true),
        supports_response_streaming: lit(true),
      }),
      // metadata is object<string,string>: the listed keys plus any the agent adds (ip-intel keys, extensions).
      ...check('register.metadata', (p as Json).metadata, { agent_mode: lit('vm-agent'), registration_timestamp: match(RFC3339), registration_mode: lit('fresh', 'resume') }, { extra: true }),
      ...Object.entries(((p as Json).metadata ?? {}) as Json).flatMap(([k, v]) => (typeof v === 'string' ? [] : [`register.metadata.${k}: expected a string`])),
      ...Object.entries(((p as Json).labels ?? {}) as Json).flatMap(([k, v]) => (typeof v === 'string' ? [] : [`register.labels.${k}: expected a string`])),
    ],
  },
  // §7 (L9: real usage or no cpu/memory keys; routing_mode added)
  heartbeat: {
    requestId: 'absent',
    payload: (p) => [
      ...check(
        'heartbeat',
        p,
        {
          cluster_id: 'string',
          agent_id: 'string',
          status: lit('healthy', 'reconnecting', 'disconnected'),
          tunnel_status: lit('connected', 'disconnected'),
          metadata: 'object',
          'prometheus_url?': 'string',
          'prometheus_username?': 'string',
          'prometheus_password?': 'string',
          'prometheus_ssl?': 'bool',
          'loki_url?': 'string',
          'loki_username?': 'string',
          'loki_password?': 'string',
          'loki_ssl?': 'bool',
          'grafana_url?': 'string',
          'grafana_username?': 'string',
          'grafana_password?': 'string',
          'grafana_ssl?': 'bool',
          'worker_join?': 'object',
        },
      ),
      ...check('heartbeat.metadata', (p as Json).metadata, {
        agent_version: 'string',
        k8s_version: 'string',
        k8s_nodes: 'int',
        k8s_pods: 'int',
        'cpu_usage?': match(/^\d+%$/),
        'memory_usage?': match(/^\d+%$/),
        is_private: 'bool',
        gateway_routes: 'int',
        'routing_mode?': lit('tunnel', 'direct'),
      }),
    ],
  },
  // §2.4
  pong: { requestId: 'required', payload: (p) => check('pong', p, { timestamp: match(RFC3339) }) },
  // §2.5.8
  protocol_fallback: {
    requestId: 'absent',
    payload: (p) =>
      check('protocol_fallback', p, {
        agent_version: lit('pipeops-k8-agent'),
        unknown_type: 'string',
        supported_types: (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') && v.includes('proxy_request') ? null : 'expected the array of supported types'),
        fallback_mode: lit('legacy_proxy'),
        protocol_version: lit('1.0'),
        timestamp: match(RFC3339),
        'original_request_id?': 'string',
      }),
  },
  // §3.5 B: body and encoding both or neither
  proxy_response: {
    requestId: 'required',
    payload: (p) => {
      const errs = check('proxy_response', p, { status: 'int', headers: headerMap(true), 'body?': match(BASE64), 'encoding?': lit('base64', 'gzip') });
      if (('body' in (p as Json)) !== ('encoding' in (p as Json))) errs.push('proxy_response: body and encoding must come together');
      return errs;
    },
  },
  // §3.5 B / P1; stream errors (§4.1, §4.2) also carry payload.request_id
  proxy_error: { requestId: 'required', payload: (p) => check('proxy_error', p, { error: 'string', 'request_id?': 'string' }) },
  proxy_response_header: { requestId: 'required', payload: (p) => check('proxy_response_header', p, { status: 'int', headers: headerMap(true) }) },
  proxy_response_chunk: { requestId: 'required', payload: (p) => check('proxy_response_chunk', p, { data: match(BASE64), encoding: lit('base64'), size: 'int' }) },
  proxy_response_end: { requestId: 'required', payload: (p) => check('proxy_response_end', p, {}) },
  proxy_response_abort: { requestId: 'required', payload: (p) => check('proxy_response_abort', p, { error: 'string' }) },
  // §4.3: kubectl streams carry stream_id and data only
  proxy_websocket_data: { requestId: 'required', payload: (p) => check('proxy_websocket_data', p, { stream_id: 'string', data: match(BASE64) }) },
  // §3.8 step 5: application WebSocket frames carry both ids and the opcode as a number
  'proxy_websocket_data:application': {
    requestId: 'required',
    payload: (p) => check('proxy_websocket_data', p, { request_id: 'string', stream_id: 'string', data: match(BASE64), message_type: lit(1, 2) }),
  },
  // §4.4 (W1 adds request_id/code/reason for application WebSockets only)
  proxy_websocket_close: { requestId: 'required', payload: (p) => check('proxy_websocket_close', p, { stream_id: 'string' }) },
  'proxy_websocket_close:application': {
    requestId: 'required',
    payload: (p) => check('proxy_websocket_close', p, { stream_id: 'string', request_id: 'string', 'code?': 'int', 'reason?': 'string' }),
  },
  // §5.4 / T1
  tcp_tunnel_close: { requestId: 'required', payload: (p) => check('tcp_tunnel_close', p, { reason: 'string', 'error?': 'string' }) },
};

let sandbox: Sandbox;
let cp: FakeControlPlane;
let agent: AgentProcess;
let echo: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  const dir = tempDir('pipeops-diff-');
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  cp = await fakeControlPlane();
  // An application WebSocket behind a Service (§3.8): echoes, and closes with 4000 when asked.
  echo = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response('upgrade required', { status: 426 })),
    websocket: {
      message(ws, m) {
        if (m === 'close-me') ws.close(4000, 'bye');
        else ws.send(m);
      },
    },
  });
  agent = await spawnAgent(`${cp.url}/base?tenant=t1`, dir, { kubeconfig, env: { PIPEOPS_SERVICE_PROXY: 'map', PIPEOPS_SERVICE_MAP: JSON.stringify({ 'demo/echo:80': `http://127.0.0.1:${echo.port}` }) } });
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  await sandbox?.close();
  echo?.stop(true);
});

const auth = { Authorization: [`Bearer ${SA_TOKEN}`] };
const answered = (id: string, types: string[]) => cp.next((r) => r.json?.request_id === id && types.includes(r.json.type), `${types.join('/')} for ${id}`);
const END = ['proxy_response', 'proxy_error', 'proxy_response_end', 'proxy_response_abort'];

test('every message the agent emits matches protocol.md §2–§5 (differential replay, issue 10 item 8)', async () => {
  const gw = await cp.waitForConn('gateway');
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o)) as Uint8Array<ArrayBuffer>;
  const compared = new Set<string>();
  const diffs: string[] = [];

  // ---- replay ----
  gw.send('ping', null, 'p-1');
  gw.sendRaw(enc({ type: 'ping', request_id: 'p-bin' })); // legacy JSON-in-binary
  gw.send('pong', {});
  gw.send('heartbeat_ack', { cluster_id: 'C-1' });
  gw.send('register_in_progress', {});
  gw.send('vendor_extension', {}, 'u-1');
  gw.send('proxy_request', { method: 'GET', path: '/version', headers: auth }, 'r-small');
  gw.send('proxy_request', { method: 'GET', path: '/api/v1/pods', headers: auth }, 'r-gzip');
  const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'diff-big' }, data: { blob: 'x'.repeat(20_000) } });
  gw.send('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, body: Buffer.from(big).toString('base64'), body_encoding: 'base64' }, 'r-big');
  await cp.next((r) => (r.json?.request_id === 'r-big' && END.includes(r.json.type)) || (r.binary !== undefined && frameRequestId(r.binary as Uint8Array<ArrayBuffer>) === 'r-big'), 'answer to r-big');
  gw.send('proxy_request', { method: 'GET', path: '/api/v1/namespaces/demo/configmaps/diff-big', headers: auth, body_binary: true, body_size: 0 }, 'r-binbody');
  gw.sendRaw(encodeIdFrame('r-binbody', new Uint8Array(0)));
  gw.send('proxy_request', { method: 'GET', path: '/version', headers: auth, supports_response_streaming: true }, 'r-stream');
  gw.send('proxy_request', { method: 'GET', path: '/api/v1/namespaces', query: 'watch=true', headers: auth, supports_response_streaming: true }, 'r-watch');
  gw.send('proxy_request', { method: 'GET', path: '/', service_name: 'Not_Valid', namespace: 'demo', service_port: 80 }, 'r-badsvc');
  gw.send('proxy_request', null, 'r-null');
  gw.send('proxy_request', { method: 'GET', path: '/version', headers: 'nope' }, 'r-badtype');
  gw.send('proxy_websocket_start', { path: '/api/v1/namespaces/demo/pods/x/exec' }, 's-noid');
  gw.send('proxy_websocket_start', { stream_id: 's-badpath', path: '/etc/passwd' }, 's-badpath');
  gw.send('proxy_websocket_start', { stream_id: 's-404', path: '/api/v1/namespaces/demo/pods/no-such-pod/exec', query: 'command=true&stdout=true', headers: auth }, 's-404');
  gw.send(
    'proxy_websocket_start',
    { stream_id: 's-exec', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=echo&command=hello&stdout=true&stderr=true', headers: auth },
    's-exec',
  );
  gw.send('tcp_tunnel_start', { tunnel_id: 't', gateway_port: 1 }, 'tcp-1');
  // exec as a proxy_request upgrade (§4.5 with W2: 101 only after the API server accepted).
  gw.send(
    'proxy_request',
    {
      method: 'GET',
      path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec',
      query: 'command=echo&command=via-request&stdout=true',
      headers: { ...auth, Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Version': ['13'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Protocol': ['v4.channel.k8s.io'] },
      is_websocket: true,
    },
    'r-exec',
  );

  gw.send(
    'proxy_request',
    {
      method: 'GET',
      path: '/chat',
      service_name: 'echo',
      namespace: 'demo',
      service_port: 80,
      is_websocket: true,
      headers: { Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Version': ['13'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='] },
    },
    'app-1',
  );

  // ---- wait for every answer ----
  await answered('p-1', ['pong']);
  await answered('p-bin', ['pong']);
  await cp.next((r) => r.json?.type === 'protocol_fallback', 'protocol_fallback');
  for (const id of ['r-small', 'r-gzip', 'r-stream', 'r-badsvc', 'r-null', 'r-badtype']) await answered(id, END);
  await cp.next((r) => (r.json?.request_id === 'r-binbody' && END.includes(r.json.type)) || (r.binary !== undefined && frameRequestId(r.binary as Uint8Array<ArrayBuffer>) === 'r-binbody'), 'answer to r-binbody');
  await answered('r-watch', ['proxy_response_header']);
  gw.send('proxy_cancel', {}, 'r-watch');
  await answered('r-watch', ['proxy_response_abort', 'proxy_error']);
  await answered('s-badpath', ['proxy_error']);
  await cp.next((r) => r.json?.type === 'proxy_error' && /missing stream_id/.test(String(r.json.payload?.error)), 'missing stream_id');
  await answered('s-404', ['proxy_websocket_close']);
  await answered('s-exec', ['proxy_websocket_close']);
  await answered('tcp-1', ['tcp_tunnel_close']);
  await answered('r-exec', ['proxy_response', 'proxy_error']);
  await answered('r-exec', ['proxy_websocket_close']);
  await cp.next((r) => r.json?.type === 'heartbeat' && r.kind === 'gateway', 'a heartbeat on the gateway');
  await answered('app-1', ['proxy_response', 'proxy_error']);
  const frame = (text: string) => Buffer.concat([Buffer.from([1]), Buffer.from(text)]).toString('base64');
  gw.send('proxy_websocket_data', { request_id: 'app-1', stream_id: 'app-1', data: frame('hello app') }, 'app-1');
  await answered('app-1', ['proxy_websocket_data']);
  gw.send('proxy_websocket_data', { request_id: 'app-1', stream_id: 'app-1', data: frame('close-me') }, 'app-1');
  await answered('app-1', ['proxy_websocket_close']);

  // ---- dials (§2.1, §2.2) ----
  const [ctl, gwd] = [cp.dials.find((d) => d.kind === 'controller')!, cp.dials.find((d) => d.kind === 'gateway')!];
  compared.add('dial:controller');
  if (ctl.url.pathname !== '/api/v1/clusters/agent/ws') diffs.push(`controller dial path ${ctl.url.pathname}: the path of api_url is replaced`);
  if (ctl.url.search !== '?tenant=t1') diffs.push(`controller dial query ${ctl.url.search}: api_url's query is kept, nothing added`);
  for (const d of cp.dials) if (d.authorization !== `Bearer ${CP_AGENT_TOKEN}`) diffs.push(`${d.kind} dial: Authorization must be "Bearer <token>"`);
  compared.add('dial:gateway');
  const q = Object.fromEntries(gwd.url.searchParams);
  // Upstream's keys, plus our documented `pipeops_extensions` (src/protocol/extensions.ts), which an upstream gateway
  // ignores; supports_yamux is omitted on purpose (we do not speak yamux; docs/compatibility.md).
  const expectedQ = {
    agent_version: q.agent_version,
    cluster_uuid: 'U-1',
    pipeops_extensions: formatExtensions(EXTENSIONS),
    supports_binary: 'true',
    supports_response_streaming: 'true',
    supports_streaming: 'true',
    supports_websocket: 'true',
  };
  if (JSON.stringify(q) !== JSON.stringify(expectedQ)) diffs.push(`gateway dial query ${gwd.url.search}: expected ${JSON.stringify(expectedQ)}`);
  if ([...gwd.url.searchParams.keys()].join() !== [...gwd.url.searchParams.keys()].sort().join()) diffs.push('gateway dial query keys are not sorted (Go url.Values.Encode)');

  // ---- every frame ----
  for (const r of cp.received) {
    if (r.binary) {
      // §3.6 binary response frame
      const f = decodeResponseFrame(r.binary as Uint8Array<ArrayBuffer>);
      compared.add('binary:response_frame');
      if (!f.ok) diffs.push(`binary frame: ${f.error}`);
      else diffs.push(...headerMapErrors('binary frame headers', f.value.headers));
      continue;
    }
    const m = r.json;
    if (!m) {
      diffs.push(`text frame is not JSON: ${r.text?.slice(0, 80)}`);
      continue;
    }
    compared.add('envelope');
    for (const k of Object.keys(m)) if (!['type', 'request_id', 'payload', 'timestamp'].includes(k)) diffs.push(`${m.type}: envelope key ${k} not in §2.3`);
    if (typeof m.timestamp !== 'string' || !RFC3339.test(m.timestamp)) diffs.push(`${m.type}: timestamp ${m.timestamp} is not RFC 3339`);
    if ('request_id' in m && (typeof m.request_id !== 'string' || m.request_id === '')) diffs.push(`${m.type}: request_id present but empty or not a string`);
    if (!('payload' in m) || (m.payload !== null && (typeof m.payload !== 'object' || Array.isArray(m.payload)))) diffs.push(`${m.type}: payload must be an object or null`);
    const shape = SHAPES[variant(m.type, m.payload)] ?? SHAPES[m.type];
    if (!shape) {
      diffs.push(`${m.type}: a message type protocol.md does not list`);
      continue;
    }
    compared.add(variant(m.type, m.payload));
    if (shape.requestId === 'required' && !m.request_id) diffs.push(`${m.type}: request_id missing`);
    if (shape.requestId === 'absent' && m.request_id) diffs.push(`${m.type}: request_id must be omitted`);
    diffs.push(...shape.payload(m.payload ?? {}));
  }

  // ---- error-text prefixes (§4.1, §4.2) and specific answers ----
  const err = (id: string) => String(cp.received.find((r) => r.json?.request_id === id && r.json.type === 'proxy_error')?.json?.payload?.error ?? '');
  if (err('s-badpath') !== 'invalid path: must be a Kubernetes API path') diffs.push(`invalid path error: ${err('s-badpath')}`);
  if (!/^failed to connect to K8s API: .*\(status: 404\)$/.test(err('s-404'))) diffs.push(`dial failure error: ${err('s-404')}`);
  const stripped = cp.received.find((r) => r.json?.request_id === 's-404' && r.json.type === 'proxy_error')?.json?.payload as Json | undefined;
  if (stripped?.request_id !== 's-404') diffs.push('stream proxy_error: payload.request_id must be the stream id (§4.2)');
  if (!err('r-null').includes('payload')) diffs.push(`payload null: ${err('r-null')}`);
  const close = cp.of('tcp_tunnel_close')[0]?.payload as Json | undefined;
  if (close?.reason !== 'tunnels_disabled') diffs.push(`tcp_tunnel_close reason ${close?.reason} (T1)`);
  const execData = cp.received.filter((r) => r.json?.type === 'proxy_websocket_data' && r.json.request_id === 's-exec').map((r) => Buffer.from(String(r.json!.payload!.data), 'base64'));
  // §4.3 translation: stdout arrives as a text frame (opcode 1) with the channel byte stripped.
  if (!execData.some((b) => b[0] === 1 && b.subarray(1).toString().includes('hello'))) diffs.push(`exec stdout not relayed as translated text frames: ${execData.map((b) => b.toString('hex').slice(0, 20))}`);
  const viaGzip = cp.received.find((r) => r.json?.request_id === 'r-gzip')?.json?.payload as Json | undefined;
  if (viaGzip?.encoding !== 'gzip') diffs.push(`a 6 KB JSON answer must be gzip-encoded (§3.7), got ${viaGzip?.encoding}`);
  if (!cp.received.some((r) => r.binary)) diffs.push('no binary response frame for a ≥ 10 KiB answer (§3.5)');
  const appEcho = cp.received.find((r) => r.json?.type === 'proxy_websocket_data' && r.json.request_id === 'app-1')?.json?.payload as Json | undefined;
  if (Buffer.from(String(appEcho?.data), 'base64').subarray(1).toString() !== 'hello app' || appEcho?.message_type !== 1) diffs.push(`application echo: ${JSON.stringify(appEcho)}`);
  const appClose = cp.received.find((r) => r.json?.type === 'proxy_websocket_close' && r.json.request_id === 'app-1')?.json?.payload as Json | undefined;
  if (appClose?.code !== 4000 || appClose?.reason !== 'bye') diffs.push(`application close (W1) must carry the backend's code and reason: ${JSON.stringify(appClose)}`);

  // ---- the agent's own log lines: one key once (item 14) ----
  compared.add('log_line');
  for (const l of agent.out.lines.filter((x) => x.startsWith('{'))) {
    const keys = topLevelKeys(l);
    if (keys.length !== new Set(keys).size) diffs.push(`log line repeats a key: ${l.slice(0, 120)}`);
  }

  const expectedShapes = [
    'dial:controller',
    'dial:gateway',
    'envelope',
    'binary:response_frame',
    'log_line',
    'register',
    'heartbeat',
    'pong',
    'protocol_fallback',
    'proxy_response:json',
    'proxy_response:gzip',
    'proxy_response:101',
    'proxy_error',
    'proxy_error:stream',
    'proxy_response_header',
    'proxy_response_chunk',
    'proxy_response_end',
    'proxy_response_abort',
    'proxy_websocket_data',
    'proxy_websocket_close',
    'proxy_websocket_data:application',
    'proxy_websocket_close:application',
    'proxy_response:101',
    'tcp_tunnel_close',
  ];
  console.log(`differential replay: ${compared.size} message shapes compared (${[...compared].sort().join(', ')}); ${cp.received.length} frames checked; ${diffs.length} differences`);
  expect(diffs).toEqual([]);
  expect([...compared].sort()).toEqual(expect.arrayContaining(expectedShapes));
  for (const s of expectedShapes) expect(compared.has(s)).toBe(true);
}, 120_000);

function variant(type: string, payload: unknown): string {
  const p = (payload ?? {}) as Json;
  if (type === 'proxy_response') return `proxy_response:${p.status === 101 ? '101' : p.encoding === 'gzip' ? 'gzip' : 'json'}`;
  if (type === 'proxy_error' && 'request_id' in p) return 'proxy_error:stream';
  if ((type === 'proxy_websocket_data' || type === 'proxy_websocket_close') && 'request_id' in p) return `${type}:application`;
  return type;
}

function headerMapErrors(where: string, h: unknown): string[] {
  const e = headerMap(true)(h);
  return e ? [`${where}: ${e}`] : [];
}
