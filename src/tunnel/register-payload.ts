// The `register` payload (protocol.md §2.5.1 with L4 real version and L7 cluster-derived region/cloud).
import type { RegisterFacts } from '../threads/messages.ts';
import type { RegisterPayload } from '../protocol/control-messages.ts';
import { EXTENSIONS_METADATA_KEY, formatExtensions } from '../protocol/extensions.ts';

export const AGENT_FEATURES = {
  supports_streaming: true,
  supports_binary_protocol: true,
  supports_compression: true,
  supports_websocket_proxy: true,
  supports_gateway: true,
  supports_response_streaming: true,
} as const;

export interface RegisterInputs {
  agentId: string;
  clusterName: string;
  agentVersion: string;
  agentPort: number;
  labels: Record<string, string>;
  facts: RegisterFacts;
  mode: 'fresh' | 'resume';
  clusterId: string;
  now?: Date;
}

export function buildRegisterPayload(i: RegisterInputs): RegisterPayload {
  const specs = Object.fromEntries(Object.entries(i.facts.serverSpecs).filter(([, v]) => v !== undefined && v !== 0 && v !== ''));
  const p: RegisterPayload = {
    agent_id: i.agentId,
    name: i.clusterName,
    k8s_version: i.facts.k8sVersion,
    hostname: i.facts.hostname,
    agent_version: i.agentVersion,
    server_ip: i.facts.serverIp,
    region: i.facts.region,
    cloud_provider: i.facts.cloudProvider,
    tunnel_port_config: { kubernetes_api: 6443, kubelet: 10250, agent_http: i.agentPort },
    labels: { ...i.labels, hostname: i.facts.hostname, 'agent.pipeops.io/version': i.agentVersion },
    server_specs: specs,
    features: { ...AGENT_FEATURES },
    metadata: {
      agent_mode: 'vm-agent',
      registration_timestamp: (i.now ?? new Date()).toISOString(),
      registration_mode: i.mode,
      // Ours (src/protocol/extensions.ts): what a controller socket that stays the session may use.
      [EXTENSIONS_METADATA_KEY]: formatExtensions(),
    },
  };
  if (i.clusterId) p.cluster_id = i.clusterId;
  if (i.facts.serviceToken) p.k8s_service_token = i.facts.serviceToken;
  return p;
}
