import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadHubConfig } from '../../src/hub/config/load.ts';
import { gatewayPort, gatewayTlsPort, HubConfigSchema } from '../../src/hub/config/schema.ts';
import { tempDir } from '../support/hub-agent.ts';

test('gateway ports: flags, default 8088/8443, ephemeral by default when the hub port is 0', () => {
  const r = loadHubConfig(['--agent-token', 'agent-token-x', '--gateway-port', '9099', '--gateway-tls-port', '0'], {});
  expect(r.ok && [gatewayPort(r.config), gatewayTlsPort(r.config)]).toEqual([9099, 0]);
  const d = HubConfigSchema.parse({ agent_tokens: ['agent-token-x'] });
  expect([gatewayPort(d), gatewayTlsPort(d)]).toEqual([8088, 8443]);
  const e = HubConfigSchema.parse({ agent_tokens: ['agent-token-x'], port: 0 });
  expect([gatewayPort(e), gatewayTlsPort(e)]).toEqual([0, 0]);
});

test('path routes and gateway TLS from the config file; every bad path route is reported', () => {
  const dir = tempDir();
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    `agent_tokens: [agent-token-x]
path_routes:
  - path_prefix: /pac/
    cluster: prod
    namespace: openshift-pipelines
    service: el-pipelines-as-code-interceptor
    port: 8080
gateway_tls:
  - hosts: [apps.example.com, "*.apps.example.com"]
    cert_file: /etc/tls/apps.crt
    key_file: /etc/tls/apps.key
`,
  );
  const r = loadHubConfig(['--config', good], {});
  expect(r.ok).toBe(true);
  expect(r.ok && r.config.path_routes[0]).toEqual({ path_prefix: '/pac/', cluster: 'prod', namespace: 'openshift-pipelines', service: 'el-pipelines-as-code-interceptor', port: 8080, strip_prefix: false });
  expect(r.ok && r.config.gateway_tls[0]?.hosts).toEqual(['apps.example.com', '*.apps.example.com']);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    `agent_tokens: [agent-token-x]
path_routes:
  - { host: Hooks.Example.com, path_prefix: /a/../b, cluster: prod, namespace: ns, service: svc, port: 80 }
  - { path_prefix: /ok, cluster: prod, namespace: Bad_NS, service: svc, port: 80 }
`,
  );
  const b = loadHubConfig(['--config', bad], {});
  expect(b.ok).toBe(false);
  const msg = b.ok ? '' : b.message;
  expect(msg).toContain('path_routes[0].host');
  expect(msg).toContain('path_routes[0].path_prefix');
  expect(msg).toContain('path_routes[1].namespace: namespace "Bad_NS"');
});
