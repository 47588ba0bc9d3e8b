// Proof that the chart's RBAC for the agent is exactly enough: the rendered Role/ClusterRole become the only
// permissions of the agent's token in the sandbox API server, the agent runs "in cluster" (ServiceAccount mount
// simulated: token, CA, namespace) through registration, heartbeats, state saving and ingress watching, and
//   1. nothing it does is forbidden (no 403 in the sandbox audit, and every request passes exact RBAC matching with
//      groups, namespaces and resourceNames, which the sandbox's policy language cannot express), and
//   2. every rule was used at least once, except the documented ones whose code path the sandbox cannot exercise.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { KubeStateStore } from '../../src/state/kube-store.ts';
import { adminClusters, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { find, HELM, type K8sObject, render } from './chart-support.ts';
import { describeRequest, describeRule, rbacAllows, ruleMatches, type ScopedRule, scopedRules, toSandboxPolicy } from './rbac-policy.ts';

const NS = 'pipeops-system';
const AGENT_USER = `system:serviceaccount:${NS}:pipeops-agent`;
const CP_USER = `system:serviceaccount:${NS}:pipeops-agent-control-plane`;
const AGENT_SA_TOKEN = 'agent-serviceaccount-token-rbac-test';
const CP_TOKEN = 'control-plane-serviceaccount-token-rbac-test';

/**
 * Rules the in-process run cannot exercise, and why. Anything else unused fails the test.
 * - selfsubjectaccessreviews: the agent reviews a *candidate* token by sending the review with that token, so the
 *   request is authorized as the candidate (here the control-plane identity), not as the agent. The rule matters when
 *   controlPlaneAccess is disabled and the agent offers its own ServiceAccount token; every authenticated user also
 *   has it through system:basic-user.
 */
const NOT_EXERCISED: { match: (s: ScopedRule) => boolean; why: string }[] = [
  { match: (s) => s.rule.resources?.includes('selfsubjectaccessreviews') === true, why: 'reviews run as the candidate token' },
];

const skip = !HELM;
if (skip) console.log('rbac.test.ts: SKIPPED (no helm)');

/**
 * One proof run: render the chart with `set`, give the agent's token exactly the rendered rules, run the agent in
 * cluster with `agentOver`, and check no 403, nothing beyond RBAC, every rule and verb used.
 */
function rbacProof(label: string, set: Record<string, string>, agentOver: Record<string, unknown>, extraWait: (audit: () => { verb: string; resource: string }[]) => Promise<unknown>, extraRoles: string[] = []) {
  describe.skipIf(skip)(label, () => {
  let sandbox: Sandbox;
  let hub: Hub;
  let agent: RunningAgent | undefined;
  let rules: ScopedRule[];
  let objs: K8sObject[];

  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await sandbox?.close();
  });

  test('render: the agent ClusterRole and the state Role', () => {
    objs = render({ set: { 'config.agent.enable_ingress_sync': 'true', token: 'x', ...set } });
    const cr = find(objs, 'ClusterRole', 'pipeops-agent');
    const role = find(objs, 'Role', 'pipeops-agent-state');
    expect(role.metadata.namespace).toBe(NS);
    const extra = extraRoles.map((name) => find(objs, 'Role', name));
    // The bindings point at the agent's own ServiceAccount, not at the control-plane one.
    for (const b of [find(objs, 'ClusterRoleBinding', 'pipeops-agent'), find(objs, 'RoleBinding', 'pipeops-agent-state'), ...extraRoles.map((name) => find(objs, 'RoleBinding', name))]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'pipeops-agent', namespace: NS }]);
    }
    rules = [...scopedRules(cr), ...scopedRules(role), ...extra.flatMap((r) => scopedRules(r))];
    expect(rules.length).toBeGreaterThan(5);
  });

  test('register, heartbeats, state in ConfigMap/Secret, ingress watch: no 403, every rule used', async () => {
    sandbox = await startSandbox({
      tls: 'generate',
      seed: 'demo',
      tokens: {
        [AGENT_SA_TOKEN]: { user: AGENT_USER, rules: toSandboxPolicy(rules) },
        [CP_TOKEN]: { user: CP_USER, rules: [{}] },
      },
    });
    hub = await testHub();
    const dir = tempDir('pipeops-rbac-');
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), AGENT_SA_TOKEN);
    writeFileSync(join(sa, 'ca.crt'), sandbox.caPem ?? '');
    writeFileSync(join(sa, 'namespace'), NS);
    agent = await testAgent(
      hub.url,
      dir,
      {
        ...agentOver,
        agent: { enable_ingress_sync: true, heartbeat_interval: '200ms', ...((agentOver.agent as Record<string, unknown> | undefined) ?? {}) },
        kubernetes: { in_cluster: true, service_account_dir: sa, service_token: CP_TOKEN },
      },
      { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(sandbox.port) },
    );

    const agentAudit = () => sandbox.audit.filter((a) => a.user === AGENT_USER);
    await waitFor(async () => (await adminClusters(hub)).find((c) => c.connected && c.last_heartbeat), { what: 'registered with a heartbeat', timeoutMs: 20_000 });
    // State: created with the agent id at start, updated with the cluster id after registration.
    await waitFor(() => (sandbox.get('configmaps', NS, 'pipeops-agent-state')?.data as Record<string, string> | undefined)?.cluster_id, {
      what: 'cluster_id saved in the state ConfigMap',
    });
    const secret = sandbox.get('secrets', NS, 'pipeops-agent-secrets');
    expect(Buffer.from((secret?.data as Record<string, string> | undefined)?.cluster_token ?? '', 'base64').toString()).toBe(CP_TOKEN);
    // Several heartbeats (each lists nodes, pods, services), and the ingress informer watching.
    await waitFor(() => agentAudit().filter((a) => a.verb === 'list' && a.resource === 'pods').length >= 3, { what: 'three heartbeats' });
    await waitFor(() => agentAudit().some((a) => a.verb === 'watch' && a.resource === 'ingresses'), { what: 'ingress watch' });
    await waitFor(() => agentAudit().some((a) => a.resource === 'configmaps' && a.verb === 'update'), { what: 'state update' });
    await extraWait(agentAudit);
    await agent.stop();
    agent = undefined;

    // The store directly with the same token: a second save (update path) and a load, like a restarted agent.
    const kube = new KubeClient({ server: sandbox.url, ca: sandbox.caPem, token: () => AGENT_SA_TOKEN, source: 'explicit' });
    const store = new KubeStateStore(kube, { namespace: NS });
    const loaded = await store.load();
    expect(loaded.cluster_token).toBe(CP_TOKEN);
    await store.save({ ...loaded, gateway_ws_url: 'wss://example.invalid/ws' });
    expect((await store.load()).gateway_ws_url).toBe('wss://example.invalid/ws');

    const audit = agentAudit();
    const denied = audit.filter((a) => !a.allowed);
    expect(denied.map(describeRequest)).toEqual([]);
    const beyondRbac = audit.filter((a) => !rbacAllows(rules, a));
    expect(beyondRbac.map(describeRequest)).toEqual([]);

    const unused = rules.filter((r) => !audit.some((a) => ruleMatches(r, a)));
    const table = rules.map((r) => `${audit.filter((a) => ruleMatches(r, a)).length.toString().padStart(5)}  ${describeRule(r)}`);
    console.log(`agent RBAC rule usage (requests matched):\n${table.join('\n')}`);
    const unexplained = unused.filter((r) => !NOT_EXERCISED.some((n) => n.match(r)));
    expect(unexplained.map(describeRule)).toEqual([]);
    // And the verbs inside each used rule: every verb of every exercised rule was used.
    const unusedVerbs: string[] = [];
    for (const r of rules) {
      if (NOT_EXERCISED.some((n) => n.match(r))) continue;
      for (const verb of r.rule.verbs) {
        if (!audit.some((a) => a.verb === verb && ruleMatches(r, a))) unusedVerbs.push(`${describeRule(r)}: ${verb}`);
      }
    }
    expect(unusedVerbs).toEqual([]);
  }, 60_000);
});
}

rbacProof('agent RBAC from the chart, enforced by the sandbox', {}, {}, async () => {});

// replicas: 2 with leader election: the Lease Role (get/update by name, create) is exactly what the elector uses.
rbacProof(
  'agent RBAC with leader election (replicas: 2), enforced by the sandbox',
  { replicas: '2', 'config.agent.leader_election.enabled': 'true' },
  { agent: { leader_election: { enabled: true, lease_duration: '3s', renew_deadline: '2s', retry_period: '200ms' } } },
  (audit) => waitFor(() => audit().filter((a) => a.resource === 'leases' && a.verb === 'update').length >= 3, { what: 'three Lease renewals' }),
  ['pipeops-agent-leader-election'],
);

/**
 * Exposure (gateway.*): the Role rendered with `config.gateway.enabled` is exactly what the agent needs to create,
 * change and remove its Gateway API and Istio objects — nothing denied, every rule and verb used (`create`: a
 * server-side apply that creates an object is authorized as `patch` and `create`, by kube-apiserver and the sandbox).
 */
describe.skipIf(skip)('exposure RBAC from the chart, enforced by the sandbox', () => {
  const GATEWAY_A = {
    enabled: true,
    environment: { mode: 'managed' },
    gateway_api: {
      enabled: true,
      listeners: [{ name: 'tcp-redis', port: 6379, protocol: 'TCP' }, { name: 'udp-dns', port: 5353, protocol: 'UDP' }],
      tcp_routes: [{ name: 'redis', section_name: 'tcp-redis', backend_refs: [{ name: 'redis', port: 6379 }] }],
      udp_routes: [{ name: 'dns', section_name: 'udp-dns', backend_refs: [{ name: 'coredns', port: 53 }] }],
    },
    istio: {
      enabled: true,
      gateway: { servers: [{ port: { number: 5000, name: 'tcp-runner', protocol: 'TCP' } }] },
      virtual_service: { tcp_routes: [{ name: 'runner', port: 5000, destination: { host: 'runner.pipeops-system.svc.cluster.local', port: 5000 } }] },
    },
  };
  // The second configuration drops the UDP route and the Istio family: both are removed.
  const GATEWAY_B = { ...GATEWAY_A, gateway_api: { ...GATEWAY_A.gateway_api, udp_routes: [] }, istio: { enabled: false } };
  let sandbox: Sandbox | undefined;
  let hub: Hub | undefined;
  let agent: RunningAgent | undefined;
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await sandbox?.close();
  });

  test('apply, change and remove the exposure objects: no 403, every rule and verb used', async () => {
    const dir = tempDir('pipeops-rbac-exposure-');
    const values = join(dir, 'values.yaml');
    writeFileSync(values, JSON.stringify({ token: 'x', config: { gateway: GATEWAY_A } }));
    const objs = render({ values: [values] });
    const role = find(objs, 'Role', 'pipeops-agent-exposure');
    expect(role.metadata.namespace).toBe(NS);
    expect(find(objs, 'RoleBinding', 'pipeops-agent-exposure').subjects).toEqual([{ kind: 'ServiceAccount', name: 'pipeops-agent', namespace: NS }]);
    // Without gateway.enabled there is no exposure Role at all.
    expect(render({ set: { token: 'x' } }).some((o) => o.metadata.name === 'pipeops-agent-exposure')).toBe(false);
    const exposure = scopedRules(role);
    const all = [...scopedRules(find(objs, 'ClusterRole', 'pipeops-agent')), ...scopedRules(find(objs, 'Role', 'pipeops-agent-state')), ...exposure];

    sandbox = await startSandbox({ tls: 'generate', seed: 'demo', tokens: { [AGENT_SA_TOKEN]: { user: AGENT_USER, rules: toSandboxPolicy(all) }, [CP_TOKEN]: { user: CP_USER, rules: [{}] } } });
    hub = await testHub();
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), AGENT_SA_TOKEN);
    writeFileSync(join(sa, 'ca.crt'), sandbox.caPem ?? '');
    writeFileSync(join(sa, 'namespace'), NS);
    const start = (gateway: unknown) =>
      testAgent(
        hub!.url,
        dir,
        { agent: { heartbeat_interval: '200ms' }, kubernetes: { in_cluster: true, service_account_dir: sa, service_token: CP_TOKEN }, gateway: gateway as never },
        { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(sandbox!.port) },
      );
    const sb = sandbox;
    agent = await start(GATEWAY_A);
    await waitFor(() => sb.get('virtualservices', NS, 'pipeops-gateway') && sb.get('udproutes', NS, 'dns') && sb.get('tcproutes', NS, 'redis'), { what: 'exposure objects applied', timeoutMs: 20_000 });
    await waitFor(() => sb.get('gateways.gateway.networking.k8s.io', NS, 'pipeops-gateway') && sb.get('gateways.networking.istio.io', NS, 'pipeops-gateway'), { what: 'both Gateways' });
    await agent.stop();
    agent = await start(GATEWAY_B);
    await waitFor(() => !sb.get('udproutes', NS, 'dns') && !sb.get('virtualservices', NS, 'pipeops-gateway') && !sb.get('gateways.networking.istio.io', NS, 'pipeops-gateway'), {
      what: 'unconfigured exposure objects removed',
      timeoutMs: 20_000,
    });
    expect(sb.get('tcproutes', NS, 'redis')).toBeDefined();
    await agent.stop();
    agent = undefined;

    const audit = sb.audit.filter((a) => a.user === AGENT_USER);
    expect(audit.filter((a) => !a.allowed).map(describeRequest)).toEqual([]);
    expect(audit.filter((a) => !rbacAllows(all, a)).map(describeRequest)).toEqual([]);
    const unusedVerbs: string[] = [];
    for (const r of exposure) {
      for (const verb of r.rule.verbs) {
        if (!audit.some((a) => a.verb === verb && ruleMatches(r, a))) unusedVerbs.push(`${describeRule(r)}: ${verb}`);
      }
    }
    expect(unusedVerbs).toEqual([]);
    // Every kind the Role names was written (applied) by the agent.
    for (const r of exposure) {
      for (const res of r.rule.resources ?? []) {
        expect({ res, patched: audit.some((a) => a.verb === 'patch' && a.resource === res && r.rule.apiGroups?.includes(a.group)) }).toEqual({ res, patched: true });
      }
    }
  }, 90_000);
});

/**
 * Gateway discovery (tunnels.enabled): with the chart's ClusterRole (force_tunnel_mode off, so Services are watched
 * too) the in-cluster agent lists and watches Gateways, TCPRoutes and UDPRoutes and registers the labelled
 * Gateway's listener with the hub's tunnel registry — nothing denied, every verb of the discovery rule used.
 */
describe.skipIf(skip)('Gateway discovery RBAC from the chart, enforced by the sandbox', () => {
  let sandbox: Sandbox | undefined;
  let hub: Hub | undefined;
  let agent: RunningAgent | undefined;
  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    await sandbox?.close();
  });

  test('discovery and registration: no 403, the discovery rule fully used, the tunnel at the hub', async () => {
    const objs = render({ set: { token: 'x', 'config.tunnels.enabled': 'true', 'config.tunnels.routing.force_tunnel_mode': 'false' } });
    const cr = find(objs, 'ClusterRole', 'pipeops-agent');
    const rules = [...scopedRules(cr), ...scopedRules(find(objs, 'Role', 'pipeops-agent-state'))];
    const discovery = rules.filter((r) => r.rule.apiGroups?.includes('gateway.networking.k8s.io'));
    expect(discovery.map((r) => r.rule)).toEqual([{ apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways', 'tcproutes', 'udproutes'], verbs: ['list', 'watch'] }]);
    // Without tunnels.enabled the ClusterRole has no Gateway API rule.
    expect(JSON.stringify(find(render({ set: { token: 'x' } }), 'ClusterRole', 'pipeops-agent').rules)).not.toContain('gateway.networking.k8s.io');

    sandbox = await startSandbox({ tls: 'generate', seed: 'demo', tokens: { [AGENT_SA_TOKEN]: { user: AGENT_USER, rules: toSandboxPolicy(rules) }, [CP_TOKEN]: { user: CP_USER, rules: [{}] } } });
    sandbox.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { namespace: 'default', name: 'edge', labels: { 'pipeops.io/managed': 'true' } },
      spec: { gatewayClassName: 'istio', listeners: [{ name: 'tcp-redis', port: 6379, protocol: 'TCP' }] },
    });
    sandbox.apply({
      apiVersion: 'gateway.networking.k8s.io/v1alpha2',
      kind: 'TCPRoute',
      metadata: { namespace: 'default', name: 'redis' },
      spec: { parentRefs: [{ name: 'edge', sectionName: 'tcp-redis' }], rules: [{ backendRefs: [{ name: 'redis', port: 6379 }] }] },
    });
    hub = await testHub();
    const dir = tempDir('pipeops-rbac-discovery-');
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), AGENT_SA_TOKEN);
    writeFileSync(join(sa, 'ca.crt'), sandbox.caPem ?? '');
    writeFileSync(join(sa, 'namespace'), NS);
    agent = await testAgent(
      hub.url,
      dir,
      { agent: { heartbeat_interval: '200ms' }, tunnels: { enabled: true, routing: { force_tunnel_mode: false } }, kubernetes: { in_cluster: true, service_account_dir: sa, service_token: CP_TOKEN } },
      { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(sandbox.port) },
    );
    const h = hub;
    const sb = sandbox;
    const registered = await waitFor(async () => (await h.tunnels.list()).find((t) => t.gateway_name === 'edge'), { what: 'the Gateway listener in the hub tunnel registry', timeoutMs: 20_000 });
    expect(registered).toMatchObject({ protocol: 'tcp', gateway_namespace: 'default', gateway_port: 6379, service_name: 'redis', service_namespace: 'default', service_port: 6379, routing_mode: 'tunnel' });
    expect(registered.tunnel_id).toBe(`tcp-${registered.cluster_id}-edge-6379`);
    const audit = () => sb.audit.filter((a) => a.user === AGENT_USER);
    await waitFor(() => ['gateways', 'tcproutes', 'udproutes', 'services'].every((res) => audit().some((a) => a.verb === 'watch' && a.resource === res)), { what: 'the discovery watches' });
    await agent.stop();
    agent = undefined;
    expect(audit().filter((a) => !a.allowed).map(describeRequest)).toEqual([]);
    expect(audit().filter((a) => !rbacAllows(rules, a)).map(describeRequest)).toEqual([]);
    for (const res of ['gateways', 'tcproutes', 'udproutes']) {
      for (const verb of ['list', 'watch']) expect({ res, verb, used: audit().some((a) => a.verb === verb && a.resource === res && a.group === 'gateway.networking.k8s.io') }).toEqual({ res, verb, used: true });
    }
  }, 90_000);
});
