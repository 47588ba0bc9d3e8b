// The Helm chart: generated files are fresh, every config key has a value, lint/template pass for the defaults and
// the examples, a typo fails, the rendered objects have the properties we promise, deploy/agent.yaml is the render
// of the defaults, and kubectl applies it to the sandbox API server.
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { configLeaves } from '../../src/config/leaves.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { CHART_DIR, REQUIRED_PLACEHOLDERS, renderSchemaFile, renderValuesFile, SECRET_KEYS } from '../../scripts/gen-helm-schema.ts';
import { MANIFEST_HEADER } from '../../scripts/gen-manifest.ts';
import { tempDir } from '../support/hub-agent.ts';
import { CHART, EXAMPLES, examplePath, find, HELM, helm, type K8sObject, MANIFEST, MANIFEST_ARGS, parseManifest, render } from './chart-support.ts';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped JSON; the assertions check their shape.
type Loose = any;

const valuesText = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');

describe('generated chart files', () => {
  test('values.schema.json equals the one generated from the zod config schema', () => {
    expect(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')).toBe(renderSchemaFile());
  });

  test('the config block of values.yaml equals the generated one', () => {
    expect(valuesText).toBe(renderValuesFile(valuesText));
  });

  test('values.yaml has a value for every config key (secret keys come from Secrets instead)', () => {
    const values = parse(valuesText) as { config: Record<string, unknown> };
    const missing: string[] = [];
    for (const leaf of configLeaves()) {
      if (leaf.key in SECRET_KEYS) {
        expect(leaf.meta.secret).toBe(true);
        continue;
      }
      let cur: unknown = values.config;
      for (const p of leaf.path) cur = (cur as Record<string, unknown> | undefined)?.[p];
      if (cur === undefined) missing.push(leaf.key);
    }
    expect(missing).toEqual([]);
    // The leaves the chart keeps out of the ConfigMap are exactly the secret ones.
    expect(configLeaves().filter((l) => l.meta.secret).map((l) => l.key).sort()).toEqual(Object.keys(SECRET_KEYS).sort());
    expect(Object.keys(REQUIRED_PLACEHOLDERS).sort()).toEqual(configLeaves().filter((l) => l.required && !l.meta.secret).map((l) => l.key).sort());
  });

  test('the config block in values.yaml is a valid agent configuration (as the ConfigMap would carry it)', async () => {
    const dir = tempDir('pipeops-values-');
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify((parse(valuesText) as { config: unknown }).config));
    // Through the CLI's own loader: --print-config validates the file (token from env, as in the pod).
    const p = Bun.spawn([process.execPath, join(import.meta.dir, '../../src/cli.ts'), 'agent', '--config', file, '--print-config'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, PIPEOPS_TOKEN: 'x' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect({ code, err }).toEqual({ code: 0, err: expect.not.stringContaining('unknown configuration key') });
    expect(out).toContain('my-cluster');
  });
});

const skip = !HELM;
if (skip) console.log('chart.test.ts: helm tests SKIPPED (no helm)');

describe.skipIf(skip)('helm lint and template', () => {
  test('lint: defaults and every example values file', () => {
    for (const args of [[], ...EXAMPLES.map((e) => ['-f', examplePath(e)])]) {
      const r = helm(['lint', CHART, '--strict', ...args]);
      expect({ args, code: r.code, out: r.stdout + r.stderr }).toEqual({ args, code: 0, out: expect.stringContaining('0 chart(s) failed') });
    }
  });

  test('a typo in values fails lint and template, naming the key', () => {
    for (const [key, where] of [
      ['config.agent.prot', '/config/agent'],
      ['config.timeouts.websocket_pingg', '/config/timeouts'],
      ['controlPlaneAccess.enable', '/controlPlaneAccess'],
      ['tokn', ''],
    ] as const) {
      for (const cmd of ['lint', 'template']) {
        const r = helm([cmd, ...(cmd === 'template' ? ['x'] : []), CHART, '--set', `${key}=1`]);
        expect(r.code).not.toBe(0);
        expect(r.stdout + r.stderr).toContain(`additional properties '${key.split('.').pop()}' not allowed`);
        if (where) expect(r.stdout + r.stderr).toContain(where);
      }
    }
  });

  test('a wrong type or an invalid enum fails too', () => {
    for (const set of ['config.agent.port=notaport', 'config.agent.ingress_sync_scope=some', 'config.logging.level=loud']) {
      expect(helm(['template', 'x', CHART, '--set', set]).code).not.toBe(0);
    }
  });

  test('jsc: each option becomes BUN_JSC_<name> (--set works as well as a string), null removes one or all, a bad name fails', () => {
    const jscEnv = (objs: K8sObject[]) =>
      Object.fromEntries(
        ((find(objs, 'Deployment', 'pipeops-agent') as Loose).spec.template.spec.containers[0].env as { name: string; value?: string }[])
          .filter((e) => e.name.startsWith('BUN_JSC_'))
          .map((e) => [e.name, e.value]),
      );
    expect(jscEnv(render({ set: { token: 't', 'jsc.useDFGJIT': '1' } }))).toEqual({ BUN_JSC_useDFGJIT: '1', BUN_JSC_useFTLJIT: '0' });
    const dir = tempDir('chart-jsc-');
    const none = join(dir, 'none.yaml');
    writeFileSync(none, 'jsc: null\n');
    expect(jscEnv(render({ values: [none], set: { token: 't' } }))).toEqual({});
    expect(jscEnv(render({ set: { token: 't', 'jsc.useFTLJIT': 'null' } }))).toEqual({});
    const r = helm(['template', 'x', CHART, '--set', 'token=t', '--set', 'jsc.bad-name=1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("'bad-name' does not match pattern");
  });

  test('defaults: Deployment with Recreate, probes, hardened security context, env, resources, volumes', () => {
    const objs = render({ set: { token: 't' } });
    const d = find(objs, 'Deployment', 'pipeops-agent') as K8sObject & { spec: Loose };
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = d.spec.template.spec;
    expect(pod.serviceAccountName).toBe('pipeops-agent');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.image).toBe('ghcr.io/pipeopshq/pipeops-agent:0.1.0');
    expect(c.args).toEqual(['agent', '--config', '/etc/pipeops/config.yaml']);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/health', port: 'http' }, initialDelaySeconds: 60 });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/ready', port: 'http' }, initialDelaySeconds: 15 });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
    const env = Object.fromEntries((c.env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
    expect(env.PIPEOPS_TOKEN).toEqual({ secretKeyRef: { name: 'pipeops-agent', key: 'token' } });
    expect(env.PIPEOPS_K8S_SERVICE_TOKEN).toEqual({ secretKeyRef: { name: 'pipeops-agent-control-plane-token', key: 'token' } });
    expect(env.PIPEOPS_POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    // values `jsc:`: the JIT's top tier off (test/packaging/binary.test.ts: the binary's runtime honours it)
    expect(env.BUN_JSC_useFTLJIT).toBe('0');
    // Upstream chart bugs (protocol §11 item 33): no env the agent does not read.
    for (const dead of ['PIPEOPS_NODE_NAME', 'PIPEOPS_POD_NAME', 'PIPEOPS_ENABLE_STATE_PERSISTENCE']) expect(env[dead]).toBeUndefined();
    expect(c.volumeMounts).toEqual([
      { name: 'config', mountPath: '/etc/pipeops', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(pod.volumes.find((v: Loose) => v.name === 'tmp').emptyDir).toBeDefined();
    expect(pod.volumes.find((v: Loose) => v.name === 'config').configMap.name).toBe('pipeops-agent-config');
    for (const o of objs) {
      expect(o.metadata.labels?.['app.kubernetes.io/name']).toBe('pipeops-agent');
      expect(o.metadata.labels?.['app.kubernetes.io/instance']).toBe('pipeops-agent');
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    }
  });

  test('defaults: ConfigMap carries config.yaml without secrets; Secret carries the token; Service on the agent port', () => {
    const objs = render({ set: { token: 'the-agent-token' } });
    const cm = find(objs, 'ConfigMap', 'pipeops-agent-config') as K8sObject & { data: Record<string, string> };
    const cfg = parse(cm.data['config.yaml'] ?? '') as { agent: Record<string, unknown>; pipeops: Record<string, unknown>; kubernetes: Record<string, unknown> };
    expect(cfg.agent.cluster_name).toBe('my-cluster');
    expect(cfg.pipeops.token).toBeUndefined();
    expect(cfg.kubernetes.service_token).toBeUndefined();
    expect(cm.data['config.yaml']).not.toContain('the-agent-token');
    const secret = find(objs, 'Secret', 'pipeops-agent') as K8sObject & { stringData: Record<string, string> };
    expect(secret.stringData).toEqual({ token: 'the-agent-token' });
    const svc = find(objs, 'Service', 'pipeops-agent') as K8sObject & { spec: Loose };
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(objs.some((o) => o.kind === 'ServiceMonitor')).toBe(false);
  });

  test('defaults: agent RBAC is narrow, state Role is name-restricted, control-plane identity is separate', () => {
    const objs = render({ set: { token: 't' } });
    const cr = find(objs, 'ClusterRole', 'pipeops-agent') as K8sObject & { rules: Loose[] };
    const flat = cr.rules.flatMap((r) => r.resources.map((res: string) => `${r.apiGroups[0] || 'core'}/${res}:${r.verbs.join(',')}`));
    expect(flat).toEqual(['core/nodes:list', 'core/pods:list', 'core/services:list', 'metrics.k8s.io/nodes:list', 'authorization.k8s.io/selfsubjectaccessreviews:create']);
    const role = find(objs, 'Role', 'pipeops-agent-state') as K8sObject & { rules: Loose[] };
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['pipeops-agent-state'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['pipeops-agent-secrets'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create'] },
    ]);
    const cpSa = find(objs, 'ServiceAccount', 'pipeops-agent-control-plane');
    expect(cpSa.automountServiceAccountToken).toBe(false);
    const tokenSecret = find(objs, 'Secret', 'pipeops-agent-control-plane-token');
    expect(tokenSecret.type).toBe('kubernetes.io/service-account-token');
    expect(tokenSecret.metadata.annotations).toEqual({ 'kubernetes.io/service-account.name': 'pipeops-agent-control-plane' });
    const cpBinding = find(objs, 'ClusterRoleBinding', 'pipeops-agent-control-plane') as K8sObject & { roleRef: Loose; subjects: Loose[] };
    expect(cpBinding.roleRef.name).toBe('pipeops-agent-control-plane');
    expect(cpBinding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'pipeops-agent-control-plane', namespace: 'pipeops-system' }]);
  });

  test('example gateway-enabled: ingress rules, services watch, ServiceMonitor', () => {
    const objs = render({ values: [examplePath('gateway-enabled')] });
    const cr = find(objs, 'ClusterRole', 'pipeops-agent') as K8sObject & { rules: Loose[] };
    expect(cr.rules).toContainEqual({ apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['list', 'watch'] });
    expect(cr.rules).toContainEqual({ apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] });
    const sm = find(objs, 'ServiceMonitor', 'pipeops-agent') as K8sObject & { spec: Loose };
    expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    const cm = find(objs, 'ConfigMap', 'pipeops-agent-config') as K8sObject & { data: Record<string, string> };
    expect(parse(cm.data['config.yaml'] ?? '').agent.enable_ingress_sync).toBe(true);
  });

  test('example existing-secret: no token Secret, env from the named Secret and key', () => {
    const objs = render({ values: [examplePath('existing-secret')] });
    expect(objs.some((o) => o.kind === 'Secret' && o.metadata.name === 'pipeops-agent')).toBe(false);
    const d = find(objs, 'Deployment') as K8sObject & { spec: Loose };
    const env = d.spec.template.spec.containers[0].env.find((e: Loose) => e.name === 'PIPEOPS_TOKEN');
    expect(env.valueFrom).toEqual({ secretKeyRef: { name: 'pipeops-agent-token', key: 'agent-token' } });
  });

  test('example custom-rbac: overridden control-plane ClusterRole, services/proxy for apiserver mode, extra rules', () => {
    const objs = render({ values: [examplePath('custom-rbac')] });
    const cp = find(objs, 'ClusterRole', 'pipeops-deployer') as K8sObject & { rules: Loose[] };
    expect(cp.rules).toHaveLength(3);
    expect(JSON.stringify(cp.rules)).not.toContain('"*"');
    expect(find(objs, 'ServiceAccount', 'pipeops-deployer')).toBeDefined();
    const agentRole = find(objs, 'ClusterRole', 'pipeops-agent') as K8sObject & { rules: Loose[] };
    expect(agentRole.rules).toContainEqual({ apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create', 'update', 'patch', 'delete'] });
    expect(agentRole.rules).toContainEqual({ apiGroups: [''], resources: ['events'], verbs: ['list'] });
  });

  test('controlPlaneAccess.enabled=false: no control-plane identity, no service token env', () => {
    const objs = render({ set: { token: 't', 'controlPlaneAccess.enabled': 'false' } });
    expect(objs.filter((o) => o.metadata.name.includes('control-plane'))).toEqual([]);
    const d = find(objs, 'Deployment') as K8sObject & { spec: Loose };
    expect(d.spec.template.spec.containers[0].env.some((e: Loose) => e.name === 'PIPEOPS_K8S_SERVICE_TOKEN')).toBe(false);
  });

  test('state in another namespace or with other names: the Role follows', () => {
    const objs = render({ set: { token: 't', 'config.agent.state_namespace': 'pipeops-state', 'config.agent.state_configmap_name': 'cm1', 'config.agent.state_secret_name': 's1' } });
    const role = find(objs, 'Role') as K8sObject & { rules: Loose[] };
    expect(role.metadata.namespace).toBe('pipeops-state');
    expect(role.rules.map((r) => r.resourceNames)).toEqual([['cm1'], ['s1'], undefined]);
  });

  test('replicas: 2 with leader election: RollingUpdate without unavailability, Pod name as identity, the Lease Role', () => {
    const objs = render({ set: { token: 't', replicas: '2', 'config.agent.leader_election.enabled': 'true' } });
    const dep = find(objs, 'Deployment') as K8sObject & { spec: Loose };
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const env = dep.spec.template.spec.containers[0].env as Loose[];
    expect(env.find((e) => e.name === 'PIPEOPS_LEADER_ELECTION_IDENTITY')).toEqual({ name: 'PIPEOPS_LEADER_ELECTION_IDENTITY', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    const role = find(objs, 'Role', 'pipeops-agent-leader-election') as K8sObject & { rules: Loose[] };
    expect(role.metadata.namespace).toBe('pipeops-system');
    expect(role.rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['pipeops-agent-leader'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    // A Lease elsewhere, by another name: the Role follows.
    const moved = render({ set: { token: 't', 'config.agent.leader_election.enabled': 'true', 'config.agent.leader_election.lease_namespace': 'ops', 'config.agent.leader_election.lease_name': 'agent-lock' } });
    const r2 = find(moved, 'Role', 'pipeops-agent-leader-election') as K8sObject & { rules: Loose[] };
    expect(r2.metadata.namespace).toBe('ops');
    expect(r2.rules[0].resourceNames).toEqual(['agent-lock']);
    // Default: one replica, Recreate, no Lease Role, no identity env.
    const def = render({ set: { token: 't' } });
    expect((find(def, 'Deployment') as K8sObject & { spec: Loose }).spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    expect(def.some((o) => o.metadata.name === 'pipeops-agent-leader-election')).toBe(false);
  });

  test('replicas > 1 without leader election is refused with the reason', () => {
    expect(() => render({ set: { token: 't', replicas: '2' } })).toThrow('replicas > 1 needs config.agent.leader_election.enabled=true');
  });

  test('deploy/agent.yaml is the chart rendered with default values (npm run docs regenerates it)', () => {
    const r = helm(MANIFEST_ARGS);
    expect(r.code).toBe(0);
    expect(readFileSync(MANIFEST, 'utf8')).toBe(MANIFEST_HEADER + r.stdout);
  });
});

describe.skipIf(skip || !Bun.which('kubectl'))('kubectl apply of the rendered manifest to the sandbox', () => {
  let sandbox: Sandbox;
  afterAll(() => sandbox?.close());

  test('every object of deploy/agent.yaml and of the gateway-enabled example is created, and a re-apply is unchanged', async () => {
    const TOKEN = 'cluster-admin-token-for-apply';
    sandbox = await startSandbox({ tls: 'generate', tokens: { [TOKEN]: { user: 'admin', rules: [{}] } } });
    const dir = tempDir('pipeops-apply-');
    const kubeconfig = join(dir, 'kubeconfig');
    await sandbox.writeKubeconfig(kubeconfig, { token: TOKEN });
    const gatewayText = helm(['template', 'pipeops-agent', CHART_DIR, '--namespace', 'pipeops-system', '-f', examplePath('gateway-enabled')]).stdout;
    const files = { manifest: readFileSync(MANIFEST, 'utf8'), gateway: gatewayText };
    for (const [what, text] of Object.entries(files)) {
      const file = join(dir, `${what}.yaml`);
      writeFileSync(file, text);
      const apply = async () => {
        const p = Bun.spawn(['kubectl', '--kubeconfig', kubeconfig, 'apply', '-f', file], { stdout: 'pipe', stderr: 'pipe' });
        const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
        return { code, out, err };
      };
      const first = await apply();
      expect({ what, code: first.code, err: first.err }).toEqual({ what, code: 0, err: '' });
      const objs = parseManifest(text);
      for (const o of objs) {
        const kind = sandbox.registry.byApiVersionKind(o.apiVersion, o.kind);
        expect(kind).toBeDefined();
        const stored = sandbox.get(kind!.resource + (kind!.group ? `.${kind!.group}` : ''), o.metadata.namespace ?? '', o.metadata.name);
        expect({ what, obj: `${o.kind}/${o.metadata.name}`, found: stored !== undefined }).toEqual({ what, obj: `${o.kind}/${o.metadata.name}`, found: true });
      }
      const second = await apply();
      expect(second.code).toBe(0);
      // kubectl's client-side apply re-sends `stringData` on every apply, because the apiserver folds it into `data`
      // and the live object never has it: the Secret reports `configured` on a real server too (the sandbox folds it
      // since docs/sandbox-fidelity.md). Everything else must be unchanged.
      expect(second.out.split('\n').filter((l) => l && !l.endsWith(' unchanged') && l !== 'secret/pipeops-agent configured')).toEqual([]);
    }
  }, 60_000);
});

describe.skipIf(skip)('exposure values (product README names)', () => {
  test('agent.gateway.* lands in the ConfigMap\'s gateway block and switches on the exposure Role; the result loads', async () => {
    const objs = render({
      set: {
        token: 'x',
        'agent.gateway.enabled': 'true',
        'agent.gateway.gatewayApi.enabled': 'true',
        'agent.gateway.gatewayApi.gatewayClass': 'cls',
        'agent.gateway.environment.mode': 'single-vm',
        'agent.gateway.environment.vmIP': '192.0.2.10',
        'agent.gateway.istio.service.namespace': 'mesh',
        'config.gateway.namespace': 'edge',
        'config.gateway.gateway_api.listeners[0].port': '5000',
      },
    });
    const cm = find(objs, 'ConfigMap', 'pipeops-agent-config') as K8sObject & { data: Record<string, string> };
    const gateway = (parse(cm.data['config.yaml'] ?? '') as Loose).gateway;
    expect(gateway).toMatchObject({
      enabled: true,
      namespace: 'edge',
      environment: { mode: 'single-vm', vm_ip: '192.0.2.10' },
      gateway_api: { enabled: true, gateway_class: 'cls', listeners: [{ port: 5000 }] },
      istio: { enabled: false, service: { namespace: 'mesh' } },
    });
    expect(find(objs, 'Role', 'pipeops-agent-exposure').metadata.namespace).toBe('edge');
    // The ConfigMap's file is a valid agent configuration (the listener gets its default name and protocol).
    const dir = tempDir('pipeops-exposure-values-');
    writeFileSync(join(dir, 'config.yaml'), cm.data['config.yaml'] ?? '');
    const p = Bun.spawn([process.execPath, join(import.meta.dir, '../../src/cli.ts'), 'agent', '--config', join(dir, 'config.yaml'), '--print-config'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, PIPEOPS_TOKEN: 'x' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toContain('tcp-5000');
    // config.gateway alone works as before; the product keys are optional.
    expect(render({ set: { token: 'x' } }).some((o) => o.metadata.name === 'pipeops-agent-exposure')).toBe(false);
  });

  test('a typo under agent.gateway fails template', () => {
    const r = helm(['template', 'x', CHART, '--set', 'agent.gateway.vmip=1']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("additional properties 'vmip' not allowed");
  });
});
