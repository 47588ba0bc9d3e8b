import { describe, expect, test } from 'bun:test';
import { HeartbeatPayloadSchema } from '../../src/protocol/control-messages.ts';
import { classifyService, endpointsFromServices } from '../../src/heartbeat/monitoring.ts';
import { buildHeartbeat } from '../../src/heartbeat/payload.ts';
import { parseQuantity, usagePercent } from '../../src/heartbeat/usage.ts';

const base = {
  clusterId: 'c1',
  agentId: 'a1',
  agentVersion: '1.0.0',
  k8sVersion: 'v1.32.0',
  nodes: 2,
  pods: 9,
  usage: null,
  gateway: { isPrivate: true, routes: 3, routingMode: 'tunnel' },
  monitoring: {},
} as const;

describe('heartbeat payload', () => {
  test('§7 fields; usage omitted when unknown (L9); routing_mode present', () => {
    const p = buildHeartbeat({ ...base, state: 'connected' });
    expect(HeartbeatPayloadSchema.safeParse(p).success).toBe(true);
    expect(p).toMatchObject({ cluster_id: 'c1', agent_id: 'a1', status: 'healthy', tunnel_status: 'connected' });
    const md = p.metadata as Record<string, unknown>;
    expect(md).toMatchObject({ k8s_nodes: 2, k8s_pods: 9, is_private: true, gateway_routes: 3, routing_mode: 'tunnel' });
    expect('cpu_usage' in md).toBe(false);
    expect('worker_join' in p).toBe(false);
  });
  test('status follows the connection state', () => {
    expect(buildHeartbeat({ ...base, state: 'reconnecting' }).status).toBe('reconnecting');
    expect(buildHeartbeat({ ...base, state: 'disconnected' }).tunnel_status).toBe('disconnected');
  });
  test('real usage becomes percentages; monitoring URLs become *_url / *_ssl', () => {
    const p = buildHeartbeat({ ...base, state: 'connected', usage: { cpuPercent: 12.4, memoryPercent: 50 }, monitoring: { prometheus: 'http://p.m.svc.cluster.local:9090' } });
    expect((p.metadata as Record<string, unknown>).cpu_usage).toBe('12%');
    expect(p.prometheus_url).toBe('http://p.m.svc.cluster.local:9090');
    expect(p.prometheus_ssl).toBe(false);
  });
});

describe('quantities and usage', () => {
  test('parses Kubernetes quantities', () => {
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('1500Ki')).toBe(1500 * 1024);
    expect(parseQuantity('100000000n')).toBeCloseTo(0.1);
    expect(parseQuantity('bogus')).toBeNaN();
  });
  test('usage against allocatable', () => {
    const u = usagePercent([{ cpu: '500m', memory: '1Gi' }], [{ cpu: '2', memory: '4Gi' }]);
    expect(u).toEqual({ cpuPercent: 25, memoryPercent: 25 });
    expect(usagePercent([], [{ cpu: '2', memory: '4Gi' }])).toBeNull();
  });
});

describe('monitoring discovery', () => {
  const svc = (name: string, ns: string, port: number, labels: Record<string, string> = {}) => ({ metadata: { name, namespace: ns, labels }, spec: { ports: [{ port }] } });
  test('classifies by label or name, skipping helper services', () => {
    expect(classifyService(svc('kube-prometheus-stack-prometheus', 'm', 9090))).toBe('prometheus');
    expect(classifyService(svc('x', 'm', 3000, { 'app.kubernetes.io/name': 'grafana' }))).toBe('grafana');
    expect(classifyService(svc('kube-prometheus-stack-alertmanager', 'm', 9093))).toBeNull();
    expect(classifyService(svc('prometheus-operated', 'm', 9090))).toBeNull();
    expect(classifyService(svc('web', 'default', 80))).toBeNull();
  });
  test('builds in-cluster URLs with the preferred port', () => {
    const e = endpointsFromServices([svc('loki', 'mon', 3100), svc('kube-prometheus-stack-prometheus', 'mon', 9090)], 'cluster.local');
    expect(e).toEqual({ loki: 'http://loki.mon.svc.cluster.local:3100', prometheus: 'http://kube-prometheus-stack-prometheus.mon.svc.cluster.local:9090' });
  });
});
