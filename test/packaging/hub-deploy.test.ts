// The hub's deployment files: the HAProxy config (documented and the demo's generated one) is valid for haproxy,
// and the hub chart renders N replicas whose environment names are ones the hub reads, with the secrets required.
import { describe, expect, test } from 'bun:test';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hubGenericEnvName } from '../../src/hub/config/bindings.ts';
import { hubLeaves } from '../../src/hub/config/load.ts';
import { haproxyConfig } from '../../src/devstack/haproxy.ts';
import { tempDir } from '../support/hub-agent.ts';
import { HELM, helm, type K8sObject, parseManifest, REPO } from './chart-support.ts';

const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find(existsSync) ?? null;
if (!HAPROXY) console.log('SKIPPED: haproxy -c checks (haproxy not installed)');
if (!HELM) console.log('SKIPPED: hub Helm chart tests (no helm: .ci/run builds it into ~/.cache/pipeops-tools/bin)');
const HUB_CHART = join(REPO, 'deploy', 'helm', 'pipeops-hub');

const haproxyCheck = (file: string) => {
  const r = Bun.spawnSync([HAPROXY!, '-c', '-f', file], { stdout: 'pipe', stderr: 'pipe' });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}`.trim() };
};

describe.skipIf(!HAPROXY)('HAProxy configuration', () => {
  test('deploy/haproxy/haproxy.cfg is valid', () => {
    expect(haproxyCheck(join(REPO, 'deploy', 'haproxy', 'haproxy.cfg')).code).toBe(0);
  });
  test("the HA demo's generated configuration is valid and checks /readyz on every replica's agent port", () => {
    const text = haproxyConfig({ host: '127.0.0.1', port: 18090, kube_port: 16443, gateway_port: 18088 }, [
      { name: 'hub-a', host: '127.0.0.1', port: 20001, kube_port: 20002, gateway_port: 20003 },
      { name: 'hub-b', host: '127.0.0.1', port: 21001, kube_port: 21002, gateway_port: 21003 },
    ]);
    const file = join(tempDir(), 'haproxy.cfg');
    writeFileSync(file, text);
    expect(haproxyCheck(file)).toMatchObject({ code: 0 });
    expect(text.match(/uri \/readyz/g)?.length).toBe(3);
    expect(text).toContain('server hub-b 127.0.0.1:21002 check port 21001');
  });
});

const hubKeys = new Set(hubLeaves().list.map((l) => l.key));
/** Every env name the hub reads: PIPEOPS_HUB_<KEY> for each key, `_FILE` twins for secrets. */
const hubEnvNames = new Set(hubLeaves().list.flatMap((l) => [hubGenericEnvName(l.key), ...(l.meta.secret ? [`${hubGenericEnvName(l.key)}_FILE`] : [])]));

describe.skipIf(!HELM)('hub Helm chart', () => {
  const render = (args: string[]) => {
    const r = helm(['template', 'hub', HUB_CHART, '--namespace', 'pipeops', ...args]);
    if (r.code !== 0) throw new Error(r.stderr);
    return parseManifest(r.stdout);
  };
  const find = (objs: K8sObject[], kind: string) => objs.find((o) => o.kind === kind) as K8sObject & Record<string, never>;

  test('N replicas, each with its pod name as replica id and its pod IP as advertised host; every env name is one the hub reads', () => {
    const objs = render(['-f', join(HUB_CHART, 'examples', 'existing-secret.yaml')]);
    const d = find(objs, 'Deployment') as unknown as { spec: { replicas: number; template: { spec: { containers: { args: string[]; env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } } };
    expect(d.spec.replicas).toBe(3);
    const c = d.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['hub', '--config', '/etc/pipeops-hub/config/config.yaml']);
    const env = new Map(c.env.map((e) => [e.name, e]));
    expect(env.get('PIPEOPS_HUB_REPLICA_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.get('PIPEOPS_HUB_REPLICA_ADVERTISE_HOST')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    for (const name of env.keys()) expect({ name, known: hubEnvNames.has(name) }).toEqual({ name, known: true });
    expect(hubKeys.has('database')).toBe(true);
    const svc = find(objs, 'Service') as unknown as { spec: { sessionAffinity?: string; ports: { name: string }[] } };
    expect(svc.spec.sessionAffinity).toBeUndefined();
    expect(svc.spec.ports.map((p) => p.name)).toEqual(['agents', 'kube', 'public']);
    expect(objs.some((o) => o.kind === 'Secret')).toBe(false);
    expect(objs.some((o) => o.kind === 'PodDisruptionBudget')).toBe(true);
  });

  test('without an existing Secret the database URL is required, and the chart writes the Secret from values', () => {
    const r = helm(['template', 'hub', HUB_CHART]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('secret.values.databaseUrl (postgres://…) is required');
    const objs = render(['--set', 'secret.values.databaseUrl=postgres://hub:pw@db/hub,secret.values.credentialsKey=k,secret.values.replicaSecret=replica-secret-0123,secret.values.agentTokens[0]=agent-token-0123']);
    const s = find(objs, 'Secret') as unknown as { stringData: Record<string, string> };
    expect(Object.keys(s.stringData).sort()).toEqual(['admin-tokens', 'agent-tokens', 'credentials-key', 'database-url', 'replica-secret', 'user-tokens']);
  });
});
