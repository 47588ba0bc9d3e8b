import { describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoadInput, type LoadResult, loadConfig } from '../../src/config/load.ts';

const TOKEN = 'tok_0123456789abcdefghij'; // 24 chars
const REQUIRED_ENV = { PIPEOPS_API_URL: 'https://api.example.test', PIPEOPS_TOKEN: TOKEN, PIPEOPS_CLUSTER_NAME: 'c1' };

/** loadConfig with an in-memory file system: `files` maps path → text. */
function load(opts: { argv?: string[]; env?: Record<string, string>; files?: Record<string, string>; searchPaths?: string[] }): LoadResult {
  const files = opts.files ?? {};
  const input: LoadInput = {
    argv: opts.argv ?? [],
    env: opts.env ?? {},
    cwd: '/work',
    home: '/home/u',
    searchPaths: opts.searchPaths ?? ['/work/config.yaml'],
    readFile: (p) => files[p] ?? null,
  };
  return loadConfig(input);
}

function ok(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got:\n${r.message}`);
  return r;
}

function fail(r: LoadResult) {
  if (r.ok) throw new Error('expected invalid configuration');
  return r;
}

describe('precedence and provenance', () => {
  const file = '/work/config.yaml';
  const yaml = 'agent:\n  port: 1111\n  cluster_name: from-file\nlogging:\n  level: debug\ntimeouts:\n  websocket_ping: 7s\n';

  test('flag beats env beats file beats default, and sources say so', () => {
    const r = ok(
      load({
        files: { [file]: yaml },
        env: { ...REQUIRED_ENV, PIPEOPS_PORT: '2222', LOGGING_LEVEL: 'warn' },
        argv: ['--port', '3333'],
      }),
    );
    expect(r.file).toBe(file);
    expect(r.config.agent.port).toBe(3333);
    expect(r.sources['agent.port']).toEqual({ kind: 'flag', name: '--port' });
    expect(r.config.logging.level).toBe('warn');
    expect(r.sources['logging.level']).toEqual({ kind: 'env', name: 'LOGGING_LEVEL' });
    expect(r.config.agent.cluster_name).toBe('c1'); // env PIPEOPS_CLUSTER_NAME beats the file
    expect(r.sources['agent.cluster_name']).toEqual({ kind: 'env', name: 'PIPEOPS_CLUSTER_NAME' });
    expect(r.config.timeouts.websocket_ping).toBe(7000);
    expect(r.sources['timeouts.websocket_ping']).toEqual({ kind: 'file', name: file });
    expect(r.config.timeouts.websocket_read).toBe(60_000);
    expect(r.sources['timeouts.websocket_read']).toEqual({ kind: 'default', name: 'default' });
  });

  test('without flag and env the file wins over the default', () => {
    const env: Record<string, string> = { PIPEOPS_API_URL: 'https://x.test', PIPEOPS_TOKEN: TOKEN };
    const r = ok(load({ files: { [file]: yaml }, env }));
    expect(r.config.agent.port).toBe(1111);
    expect(r.config.agent.cluster_name).toBe('from-file');
    expect(r.sources['agent.port']).toEqual({ kind: 'file', name: file });
  });

  test('explicit upstream env name beats the generic A_B_C name', () => {
    const r = ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_PORT: '1', AGENT_PORT: '2' } }));
    expect(r.config.agent.port).toBe(1);
    const g = ok(load({ env: { ...REQUIRED_ENV, AGENT_PORT: '2', TIMEOUTS_WEBSOCKET_PING: '3s' } }));
    expect(g.config.agent.port).toBe(2);
    expect(g.config.timeouts.websocket_ping).toBe(3000);
    expect(g.sources['timeouts.websocket_ping']).toEqual({ kind: 'env', name: 'TIMEOUTS_WEBSOCKET_PING' });
  });

  test('--set reaches any key and beats env; later flags win', () => {
    const r = ok(
      load({
        env: { ...REQUIRED_ENV, TIMEOUTS_SHUTDOWN: '20s' },
        argv: ['--set', 'timeouts.shutdown=3s', '--set=agent.labels.tier=gold', '--log-level', 'info', '--log-level=error'],
      }),
    );
    expect(r.config.timeouts.shutdown).toBe(3000);
    expect(r.sources['timeouts.shutdown']).toEqual({ kind: 'flag', name: '--set timeouts.shutdown' });
    expect(r.config.agent.labels).toEqual({ tier: 'gold' });
    expect(r.config.logging.level).toBe('error');
  });

  test('a Kubernetes service-link variable does not break the port', () => {
    const r = ok(load({ env: { ...REQUIRED_ENV, AGENT_PORT: 'tcp://10.0.0.7:8080' } }));
    expect(r.config.agent.port).toBe(8080);
    expect(r.warnings.join('\n')).toContain('AGENT_PORT');
  });
});

describe('config file search', () => {
  test('the first existing file of the search list is used; --config overrides it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const cwd = join(dir, 'cwd');
    const home = join(dir, 'home');
    mkdirSync(cwd);
    mkdirSync(home);
    const etc = join(dir, 'etc.yaml');
    writeFileSync(join(home, '.pipeops-agent.yaml'), 'agent: {port: 2}\n');
    writeFileSync(etc, 'agent: {port: 3}\n');
    const paths = [join(cwd, 'config.yaml'), join(home, '.pipeops-agent.yaml'), etc];
    const base = { env: REQUIRED_ENV, cwd, home, searchPaths: paths };

    let r = ok(loadConfig({ ...base, argv: [] }));
    expect(r.file).toBe(join(home, '.pipeops-agent.yaml'));
    expect(r.config.agent.port).toBe(2);

    writeFileSync(join(cwd, 'config.yaml'), 'agent: {port: 1}\n');
    r = ok(loadConfig({ ...base, argv: [] }));
    expect(r.file).toBe(join(cwd, 'config.yaml'));
    expect(r.config.agent.port).toBe(1);

    r = ok(loadConfig({ ...base, argv: ['--config', etc] }));
    expect(r.file).toBe(etc);
    expect(r.config.agent.port).toBe(3);

    writeFileSync(join(cwd, 'rel.yaml'), 'agent: {port: 4}\n');
    r = ok(loadConfig({ ...base, argv: ['--config=rel.yaml'] }));
    expect(r.config.agent.port).toBe(4);

    const missing = fail(loadConfig({ ...base, argv: ['--config', 'nope.yaml'] }));
    expect(missing.message).toContain(join(cwd, 'nope.yaml'));
    expect(missing.errors[0]!.source).toEqual({ kind: 'flag', name: '--config' });
  });

  test('no file at all is fine', () => {
    const r = ok(load({ env: REQUIRED_ENV, searchPaths: ['/nowhere/a.yaml', '/nowhere/b.yaml'] }));
    expect(r.file).toBeNull();
  });

  test('a YAML syntax error names the file, line and column', () => {
    const r = fail(load({ env: REQUIRED_ENV, files: { '/work/config.yaml': 'agent:\n  port: 1\n   bad: [\n' } }));
    expect(r.message).toMatch(/YAML syntax error at \/work\/config\.yaml:\d+:\d+/);
  });
});

describe('validation', () => {
  test('three invalid settings over file, env and flags are all named with their sources', () => {
    const r = fail(
      load({
        files: { '/work/config.yaml': 'timeouts:\n  websocket_ping: soon\n' },
        env: { ...REQUIRED_ENV, PIPEOPS_PORT: 'abc' },
        argv: ['--pipeops-url', 'ftp://x.test'],
      }),
    );
    expect(r.errors).toHaveLength(3);
    const byKey = Object.fromEntries(r.errors.map((e) => [e.key, e]));
    expect(byKey['agent.port']!.source).toEqual({ kind: 'env', name: 'PIPEOPS_PORT' });
    expect(byKey['timeouts.websocket_ping']!.source).toEqual({ kind: 'file', name: '/work/config.yaml' });
    expect(byKey['pipeops.api_url']!.source).toEqual({ kind: 'flag', name: '--pipeops-url' });
    expect(r.message).toStartWith('invalid configuration (3 problems):\n');
    expect(r.message).toContain('  - agent.port: expected a port 0–65535, got "abc" (from env PIPEOPS_PORT)');
    expect(r.message).toContain('(from file /work/config.yaml)');
    expect(r.message).toContain('  - pipeops.api_url: expected a URL with scheme http, https, ws or wss, got "ftp://x.test" (from flag --pipeops-url)');
  });

  test('missing required keys are all named, with where to set them', () => {
    const r = fail(load({}));
    expect(r.errors.map((e) => e.key).sort()).toEqual(['agent.cluster_name', 'pipeops.api_url', 'pipeops.token']);
    expect(r.message).toContain('pipeops.token: required, but not set (set env PIPEOPS_TOKEN, flag --token');
  });

  test('cert_file without key_file is one error naming both keys', () => {
    const r = fail(load({ env: REQUIRED_ENV, files: { '/work/config.yaml': 'pipeops:\n  tls:\n    cert_file: /c.pem\n' } }));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.key).toBe('pipeops.tls.key_file');
    expect(r.errors[0]!.message).toContain('pipeops.tls.cert_file');
    expect(r.errors[0]!.source).toEqual({ kind: 'file', name: '/work/config.yaml' });
    ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_TLS_CERT_FILE: '/c.pem', PIPEOPS_TLS_KEY_FILE: '/k.pem' } }));
  });

  test('secrets never appear in errors', () => {
    const r = fail(load({ env: { ...REQUIRED_ENV, PIPEOPS_API_URL: TOKEN, AGENT_PORT: TOKEN }, argv: ['--set', `kubernetes.in_cluster=${TOKEN}`] }));
    expect(r.message).not.toContain(TOKEN);
    expect(r.message).toContain('<redacted, 24 chars>');
    // A secret with a bad value is shown by length only.
    const t = fail(load({ env: { PIPEOPS_API_URL: 'https://x.test', PIPEOPS_CLUSTER_NAME: 'c' }, files: { '/work/config.yaml': `pipeops:\n  token: [${TOKEN}]\n` } }));
    expect(t.message).not.toContain(TOKEN);
    expect(t.message).toContain('pipeops.token');
    expect(t.message).toContain('<redacted, ');
  });

  test('constraints: heartbeat ≥ 100ms, reconnect ≤ reconnect_max, enums', () => {
    const r = fail(
      load({
        env: {
          ...REQUIRED_ENV,
          PIPEOPS_HEARTBEAT_INTERVAL: '50ms',
          TIMEOUTS_WEBSOCKET_RECONNECT: '2m',
          PIPEOPS_INGRESS_SYNC_SCOPE: 'some',
        },
      }),
    );
    const keys = r.errors.map((e) => e.key).sort();
    expect(keys).toEqual(['agent.heartbeat_interval', 'agent.ingress_sync_scope', 'timeouts.websocket_reconnect']);
    expect(r.message).toContain('must be at least 100ms');
    expect(r.message).toContain('expected one of managed, all');
  });

  test('unknown flags and stray arguments are errors', () => {
    const r = fail(load({ env: REQUIRED_ENV, argv: ['--prot', '1', 'extra'] }));
    expect(r.message).toContain('unknown flag --prot (did you mean --port?)');
    expect(r.message).toContain('unexpected argument "1"');
  });
});

describe('env parsing', () => {
  test('booleans accept true/false/1/0/yes/no in any case; anything else is an error', () => {
    for (const [text, want] of [
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['Yes', true],
      ['false', false],
      ['0', false],
      ['NO', false],
    ] as const) {
      const r = ok(load({ env: { ...REQUIRED_ENV, ENABLE_INGRESS_SYNC: text } }));
      expect(r.config.agent.enable_ingress_sync).toBe(want);
    }
    const r = fail(load({ env: { ...REQUIRED_ENV, ENABLE_INGRESS_SYNC: 'maybe' } }));
    expect(r.errors).toEqual([
      { key: 'agent.enable_ingress_sync', source: { kind: 'env', name: 'ENABLE_INGRESS_SYNC' }, message: expect.stringContaining('"maybe"') },
    ]);
  });

  test('GATEWAY_*_JSON lists parse, and a JSON error names the variable', () => {
    const good = ok(
      load({
        env: {
          ...REQUIRED_ENV,
          GATEWAY_GWAPI_LISTENERS_JSON: '[{"name":"pg","port":5432,"protocol":"TCP"}]',
          GATEWAY_ISTIO_TCP_ROUTES_JSON: '[{"name":"pg","port":5432,"destination":{"host":"pg.db.svc","port":5432}}]',
        },
      }),
    );
    expect(good.config.gateway.gateway_api.listeners).toEqual([{ name: 'pg', port: 5432, protocol: 'TCP' }]);
    expect(good.config.gateway.istio.virtual_service.tcp_routes[0]!.destination.host).toBe('pg.db.svc');

    const bad = fail(load({ env: { ...REQUIRED_ENV, GATEWAY_GWAPI_TCP_ROUTES_JSON: '[{"name": }]' } }));
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0]!.key).toBe('gateway.gateway_api.tcp_routes');
    expect(bad.errors[0]!.source).toEqual({ kind: 'env', name: 'GATEWAY_GWAPI_TCP_ROUTES_JSON' });
    expect(bad.message).toContain('invalid JSON');

    const shape = fail(load({ env: { ...REQUIRED_ENV, GATEWAY_GWAPI_LISTENERS_JSON: '[{"name":"pg","port":"x"}]' } }));
    expect(shape.errors[0]!.key).toBe('gateway.gateway_api.listeners[0].port');
    expect(shape.errors[0]!.source).toEqual({ kind: 'env', name: 'GATEWAY_GWAPI_LISTENERS_JSON' });
  });

  test('lists, maps, durations in upstream units', () => {
    const r = ok(
      load({
        env: {
          ...REQUIRED_ENV,
          AGENT_ALLOWED_WS_ORIGINS: 'https://a.test, https://b.test',
          AGENT_LABELS: 'env=prod,team=core',
          PIPEOPS_HEARTBEAT_INTERVAL_DISCONNECTED: '20',
          GATEWAY_ROUTE_REFRESH_INTERVAL: '2',
          AGENT_WS_PING_INTERVAL_SECONDS: '15',
          PIPEOPS_POD_NAMESPACE: 'ops',
          KUBECONFIG: '/k/config',
          PIPEOPS_IN_CLUSTER: 'false',
        },
      }),
    );
    expect(r.config.agent.allowed_ws_origins).toEqual(['https://a.test', 'https://b.test']);
    expect(r.config.agent.labels).toEqual({ env: 'prod', team: 'core' });
    expect(r.config.agent.heartbeat_interval_disconnected).toBe(20_000);
    expect(r.config.agent.gateway_route_refresh_interval).toBe(2 * 3_600_000);
    expect(r.config.proxy.ws_ping_interval).toBe(15_000);
    expect(r.config.agent.state_namespace).toBe('ops');
    expect(r.config.kubernetes.kubeconfig).toBe('/k/config');
    expect(r.config.kubernetes.in_cluster).toBe(false);
  });

  test('tunnels.routing.direct_cidrs: comma-separated in env; a malformed CIDR is named with its source', () => {
    const r = ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_DIRECT_CIDRS: '10.20.0.0/16, 127.0.0.0/8' } }));
    expect(r.config.tunnels.routing.direct_cidrs).toEqual(['10.20.0.0/16', '127.0.0.0/8']);
    const bad = fail(load({ env: { ...REQUIRED_ENV, PIPEOPS_DIRECT_CIDRS: '10.20.0.0/33,10.1.2.3' } }));
    expect(bad.message).toContain('tunnels.routing.direct_cidrs');
    expect(bad.message).toContain('PIPEOPS_DIRECT_CIDRS');
    expect(bad.message).toContain('expected an IPv4 CIDR such as 10.20.0.0/16');
  });

  test('heartbeat_interval overrides _connected; otherwise mirrors it; 0 means the default', () => {
    const a = ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_HEARTBEAT_INTERVAL: '12', PIPEOPS_HEARTBEAT_INTERVAL_CONNECTED: '40' } }));
    expect(a.config.agent.heartbeat_interval_connected).toBe(12_000);
    expect(a.warnings.join('\n')).toContain('overrides agent.heartbeat_interval_connected');
    const b = ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_HEARTBEAT_INTERVAL_CONNECTED: '40' } }));
    expect(b.config.agent.heartbeat_interval).toBe(40_000);
    const c = ok(load({ env: { ...REQUIRED_ENV, PIPEOPS_HEARTBEAT_INTERVAL_CONNECTED: '0', GATEWAY_ROUTE_REFRESH_INTERVAL: '0' } }));
    expect(c.config.agent.heartbeat_interval_connected).toBe(30_000);
    expect(c.config.agent.gateway_route_refresh_interval).toBe(4 * 3_600_000);
  });
});

describe('unknown keys and actions', () => {
  test('unknown keys in the file are warnings with a suggestion', () => {
    const r = ok(load({ env: REQUIRED_ENV, files: { '/work/config.yaml': 'agent:\n  prot: 9000\nloging:\n  level: debug\nzzz: 1\n' } }));
    expect(r.warnings).toContain('unknown configuration key "agent.prot" in /work/config.yaml (ignored); did you mean "agent.port"?');
    expect(r.warnings).toContain('unknown configuration key "loging" in /work/config.yaml (ignored); did you mean "logging"?');
    expect(r.warnings).toContain('unknown configuration key "zzz" in /work/config.yaml (ignored)');
    expect(r.config.agent.port).toBe(8080);
  });

  test('--print-config, --help and --version are returned as actions, even when the config is invalid', () => {
    const r = load({ argv: ['--help', '--print-config', '--version'] });
    expect(r.actions).toEqual({ printConfig: true, help: true, version: true });
    expect(r.ok).toBe(false);
    expect(ok(load({ env: REQUIRED_ENV })).actions).toEqual({ printConfig: false, help: false, version: false });
  });
});

test('a broken file does not add "required but not set" noise', () => {
  const r = fail(load({ files: { '/work/config.yaml': 'pipeops: {token: [unclosed\n' } }));
  expect(r.errors.every((e) => e.key === 'config file')).toBe(true);
  expect(r.errors[0]!.source).toEqual({ kind: 'file', name: '/work/config.yaml' });
});
