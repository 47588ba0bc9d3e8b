// The heartbeat payload (protocol.md §7) with deviations L9 (real usage or nothing; managed routes only;
// routing_mode added) and L10 (no join token unless enabled). Pure.
import type { ConnectionState } from '../threads/connection-state.ts';
import type { MonitoringEndpoints } from './monitoring.ts';

export interface HeartbeatInputs {
  clusterId: string;
  agentId: string;
  agentVersion: string;
  state: ConnectionState;
  k8sVersion: string;
  nodes: number;
  pods: number;
  usage: { cpuPercent: number; memoryPercent: number } | null;
  gateway: { isPrivate: boolean | null; routes: number; routingMode: string | null };
  monitoring: MonitoringEndpoints;
}

export function heartbeatStatus(state: ConnectionState): 'healthy' | 'reconnecting' | 'disconnected' {
  if (state === 'connected') return 'healthy';
  if (state === 'disconnected') return 'disconnected';
  return 'reconnecting';
}

export function buildHeartbeat(i: HeartbeatInputs): Record<string, unknown> {
  const metadata: Record<string, string | number | boolean> = {
    agent_version: i.agentVersion,
    k8s_version: i.k8sVersion,
    k8s_nodes: i.nodes,
    k8s_pods: i.pods,
    // Upstream reports false until ingress sync has initialised.
    is_private: i.gateway.isPrivate ?? false,
    gateway_routes: i.gateway.routes,
  };
  if (i.gateway.routingMode) metadata.routing_mode = i.gateway.routingMode;
  if (i.usage) {
    metadata.cpu_usage = `${Math.round(i.usage.cpuPercent)}%`;
    metadata.memory_usage = `${Math.round(i.usage.memoryPercent)}%`;
  }
  const p: Record<string, unknown> = {
    cluster_id: i.clusterId,
    agent_id: i.agentId,
    status: heartbeatStatus(i.state),
    tunnel_status: i.state === 'connected' ? 'connected' : 'disconnected',
    metadata,
  };
  for (const [kind, url] of Object.entries(i.monitoring)) {
    if (!url) continue;
    p[kind === 'opencost' ? 'opencost_base_url' : `${kind}_url`] = url;
    if (kind !== 'opencost') p[`${kind}_ssl`] = url.startsWith('https:');
  }
  return p;
}
