import { describe, expect, test } from 'bun:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { formatEffectiveConfig, redactConfig } from '../../src/config/redact.ts';

const TOKEN = 'tok_0123456789abcdefghij';
const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.sa-token-value';
const CA = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t';

function loaded() {
  const r = loadConfig({
    argv: ['--cluster-name', 'prod-eu', '--set', 'timeouts.websocket_ping=5s'],
    env: {
      PIPEOPS_API_URL: 'https://api.example.test',
      PIPEOPS_TOKEN: TOKEN,
      PIPEOPS_K8S_SERVICE_TOKEN: SA_TOKEN,
      PIPEOPS_K8S_CERT_DATA: CA,
    },
    cwd: '/work',
    home: '/home/u',
    searchPaths: ['/work/config.yaml'],
    readFile: (p) => (p === '/work/config.yaml' ? 'agent:\n  port: 9090\n' : null),
  });
  if (!r.ok) throw new Error(r.message);
  return r;
}

describe('redaction', () => {
  test('redactConfig replaces every non-empty secret and leaves the input untouched', () => {
    const r = loaded();
    const red = redactConfig(r.config);
    expect(red.pipeops.token).toBe('<redacted>');
    expect(red.kubernetes.service_token).toBe('<redacted>');
    expect(red.kubernetes.ca_cert_data).toBe('<redacted>');
    expect(r.config.pipeops.token).toBe(TOKEN);
    expect(JSON.stringify(red)).not.toContain(TOKEN);
  });

  test('formatEffectiveConfig: YAML with sources, no secrets, durations as strings', () => {
    const r = loaded();
    const text = formatEffectiveConfig(r.config, r.sources);
    for (const secret of [TOKEN, SA_TOKEN, CA]) expect(text).not.toContain(secret);
    expect(text).toContain('token: <redacted> # from env PIPEOPS_TOKEN');
    expect(text).toContain('cluster_name: prod-eu # from flag --cluster-name');
    expect(text).toContain('port: 9090 # from file /work/config.yaml');
    expect(text).toContain('websocket_ping: 5s # from flag --set timeouts.websocket_ping');
    expect(text).toContain('websocket_read: 1m\n'); // default: no comment
    const back = parse(text);
    expect(back.timeouts.websocket_reconnect).toBe('500ms');
    expect(back.agent.gateway_route_refresh_interval).toBe('4h');
    expect(back.kubernetes.service_token).toBe('<redacted>');
  });

  test('printed config loads back to the same values (secrets aside)', () => {
    const r = loaded();
    const text = formatEffectiveConfig(r.config, r.sources);
    const again = loadConfig({
      argv: ['--token', TOKEN, '--set', `kubernetes.service_token=${SA_TOKEN}`, '--set', `kubernetes.ca_cert_data=${CA}`],
      env: {},
      cwd: '/',
      home: '',
      searchPaths: ['/printed.yaml'],
      readFile: (p) => (p === '/printed.yaml' ? text : null),
    });
    if (!again.ok) throw new Error(again.message);
    expect(again.warnings).toEqual([]);
    expect(again.config).toEqual(r.config);
  });
});
