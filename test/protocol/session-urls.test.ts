import { describe, expect, test } from 'bun:test';
import { registerRequestId } from '../../src/protocol/control-messages.ts';
import { controllerUrl, describeEndpoint, gatewayUrl, restBaseUrl } from '../../src/protocol/session-urls.ts';

describe('control-plane URLs', () => {
  test('controller: scheme mapped (L3), path replaced, query kept', () => {
    expect(controllerUrl('https://api.pipeops.io/some/path?x=1')).toBe('wss://api.pipeops.io/api/v1/clusters/agent/ws?x=1');
    expect(controllerUrl('http://127.0.0.1:8090')).toBe('ws://127.0.0.1:8090/api/v1/clusters/agent/ws');
    expect(controllerUrl('wss://cp.example')).toBe('wss://cp.example/api/v1/clusters/agent/ws');
    expect(controllerUrl('ws://cp.example')).toBe('ws://cp.example/api/v1/clusters/agent/ws');
    expect(() => controllerUrl('ftp://cp.example')).toThrow(/unsupported scheme/);
  });

  test('gateway: https→wss, default path /ws, parameters merged and sorted', () => {
    const u = gatewayUrl('https://gw.example?zeta=1', 'c-1', '1.2.3', { yamux: false });
    expect(u).toBe(
      'wss://gw.example/ws?agent_version=1.2.3&cluster_uuid=c-1&pipeops_extensions=binary_chunks%2Cframe_batches%2Clong_streams%2Craw_frames%2Craw_upgrade%2Cyamux_tagged&supports_binary=true&supports_response_streaming=true&supports_streaming=true&supports_websocket=true&zeta=1',
    );
    expect(gatewayUrl('ws://h:1/gateway/ws', 'c', 'v', { yamux: true })).toContain('supports_yamux=true');
  });

  test('REST base and endpoint descriptions never carry credentials or queries', () => {
    expect(restBaseUrl('wss://cp.example/')).toBe('https://cp.example');
    expect(describeEndpoint('wss://user:pw@gw.example/ws?cluster_uuid=x')).toBe('wss://gw.example/ws');
  });

  test('register request id has the upstream shape', () => {
    expect(registerRequestId('agent-1', 1732200000123)).toBe('req_1732200000123000000_agent-1');
  });
});
