import { describe, expect, test } from 'bun:test';
import { RegisterPayloadSchema } from '../../src/protocol/control-messages.ts';
import { buildRegisterPayload } from '../../src/tunnel/register-payload.ts';

const facts = {
  hostname: 'node-a',
  k8sVersion: 'v1.32.0',
  region: 'eu-west-1',
  cloudProvider: 'aws',
  serverIp: '0.0.0.0',
  serverSpecs: { cpu_cores: 2, memory_gb: 0, os: 'Debian' },
  serviceToken: 'sa-token-value',
};

describe('register payload', () => {
  test('has every field of §2.5.1 with the right types, and validates against our schema', () => {
    const p = buildRegisterPayload({ agentId: 'agent-x', clusterName: 'prod', agentVersion: '1.2.3', agentPort: 8080, labels: { team: 'a' }, facts, mode: 'fresh', clusterId: '' });
    expect(RegisterPayloadSchema.safeParse(p).success).toBe(true);
    expect(p.tunnel_port_config).toEqual({ kubernetes_api: 6443, kubelet: 10250, agent_http: 8080 });
    expect(p.labels).toEqual({ team: 'a', hostname: 'node-a', 'agent.pipeops.io/version': '1.2.3' });
    expect(p.server_specs).toEqual({ cpu_cores: 2, os: 'Debian' }); // zero values omitted
    expect(p.agent_version).toBe('1.2.3'); // L4: the real version
    expect(p.metadata?.registration_mode).toBe('fresh');
    // Our extensions, named explicitly (the Go agent sends no such key).
    expect(p.metadata?.pipeops_extensions).toBe('binary_chunks,frame_batches,long_streams,raw_frames,raw_upgrade,yamux_tagged');
    expect(p.k8s_service_token).toBe('sa-token-value');
    expect('cluster_id' in p).toBe(false);
    expect(Object.values(p.features).every((v) => v === true)).toBe(true);
  });
  test('re-registration carries the previous cluster id', () => {
    const p = buildRegisterPayload({ agentId: 'a', clusterName: 'c', agentVersion: 'v', agentPort: 1, labels: {}, facts: { ...facts, serviceToken: '' }, mode: 'resume', clusterId: 'cid' });
    expect(p.cluster_id).toBe('cid');
    expect('k8s_service_token' in p).toBe(false);
  });
});
