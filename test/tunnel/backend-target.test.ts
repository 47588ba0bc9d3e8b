// Where each stream kind connects and with whose credentials (backend-target.ts, the table at its top).
import { describe, expect, test } from 'bun:test';
import type { KubeClient } from '../../src/kube/client.ts';
import { rawUpgradeTarget, type TargetConfig, webSocketTarget } from '../../src/tunnel/backend-target.ts';

const kube = {
  target: { server: 'https://10.0.0.1:6443/base', source: 'in-cluster', ca: 'CA', cert: 'CERT', key: 'KEY', insecureSkipVerify: false, token: () => 'agent-tok' },
} as unknown as KubeClient;
const cfg = (serviceProxy: TargetConfig['serviceProxy']): TargetConfig => ({ serviceProxy, clusterDomain: 'cluster.local', serviceMap: { 'demo/echo:80': 'http://127.0.0.1:9999/pre' } });
const app = { kind: 'app-websocket' as const, service: { name: 'echo', namespace: 'demo', port: 80 }, path: '/chat', https: false };
const kubeTls = { ca: 'CA', cert: 'CERT', key: 'KEY', rejectUnauthorized: true };

describe('webSocketTarget', () => {
  test('kube stream: API server over ws(s), hop headers dropped, agent token only without an exact Authorization key', () => {
    const r = webSocketTarget({ kind: 'kube-stream', path: '/api/v1/x/exec' }, 'command=ls', { 'Sec-WebSocket-Key': ['k'], 'Sec-WebSocket-Protocol': ['v5.channel.k8s.io'], Host: ['h'], 'X-A': ['1'] }, kube, cfg('dns'));
    expect(r).toEqual({ ok: true, target: { url: 'wss://10.0.0.1:6443/base/api/v1/x/exec?command=ls', tls: kubeTls, headers: { 'X-A': ['1'], Authorization: ['Bearer agent-tok'] } } });
    const own = webSocketTarget({ kind: 'kube-stream', path: '/p' }, '', { Authorization: ['Bearer caller'] }, kube, cfg('dns'));
    expect(own.ok && own.target.headers.Authorization).toEqual(['Bearer caller']);
    expect(webSocketTarget({ kind: 'kube-stream', path: '/p' }, '', {}, null, cfg('dns'))).toEqual({ ok: false, error: 'kubernetes client not initialized' });
  });

  test('application WebSocket: the Service URL, the client Host kept, no agent token, TLS unverified', () => {
    const r = webSocketTarget(app, 'a=1', { Host: ['app.example.com'], Authorization: ['Bearer caller'] }, kube, cfg('map'));
    expect(r).toEqual({ ok: true, target: { url: 'ws://127.0.0.1:9999/pre/chat?a=1', tls: { rejectUnauthorized: false }, headers: { Authorization: ['Bearer caller'], Host: ['app.example.com'] } } });
    const fwd = webSocketTarget(app, '', { 'X-Forwarded-Host': ['fwd.example.com'] }, kube, cfg('map'));
    expect(fwd.ok && fwd.target.headers.Host).toEqual(['fwd.example.com']);
  });

  test('application WebSocket via the API server proxy: the agent token replaces the caller’s, API server TLS', () => {
    const r = webSocketTarget(app, '', { Authorization: ['Bearer caller'] }, kube, cfg('apiserver'));
    expect(r).toEqual({ ok: true, target: { url: 'wss://10.0.0.1:6443/base/api/v1/namespaces/demo/services/echo:80/proxy/chat', tls: kubeTls, headers: { Authorization: ['Bearer agent-tok'] } } });
    expect(webSocketTarget(app, '', {}, null, cfg('apiserver'))).toEqual({ ok: false, error: 'kubernetes client not initialized' });
  });

  test('a Service missing from the map is an error, not a target', () => {
    expect(webSocketTarget({ ...app, service: { name: 'nope', namespace: 'demo', port: 80 } }, '', {}, kube, cfg('map'))).toEqual({ ok: false, error: 'service demo/nope:80 is not in kubernetes.service_map' });
  });
});

describe('rawUpgradeTarget', () => {
  test('kube stream: the API server base path prefixed, its Host, agent token only when the caller sent none (any case)', () => {
    const r = rawUpgradeTarget({ kind: 'kube-stream', path: '/api/v1/x/exec' }, 'command=ls', { Upgrade: ['SPDY/3.1'], Connection: ['Upgrade'], Host: ['client'] }, kube, cfg('dns'));
    expect(r).toEqual({
      ok: true,
      target: { url: 'https://10.0.0.1:6443/base', requestPath: '/base/api/v1/x/exec?command=ls', host: '10.0.0.1:6443', tls: kubeTls, headers: { Upgrade: ['SPDY/3.1'], Connection: ['Upgrade'], Authorization: ['Bearer agent-tok'] } },
    });
    const own = rawUpgradeTarget({ kind: 'kube-stream', path: '/p' }, '', { authorization: ['Bearer caller'] }, kube, cfg('dns'));
    expect(own.ok && own.target.headers).toEqual({ authorization: ['Bearer caller'] });
  });

  test('application via the API server: the caller’s credentials never reach it, the agent’s replace them', () => {
    const r = rawUpgradeTarget(app, '', { authorization: ['Bearer caller'] }, kube, cfg('apiserver'));
    expect(r.ok && r.target).toEqual({ url: 'https://10.0.0.1:6443/base', requestPath: '/base/api/v1/namespaces/demo/services/echo:80/proxy/chat', host: '10.0.0.1:6443', tls: kubeTls, headers: { Authorization: ['Bearer agent-tok'] } });
  });

  test('application at a Service URL: its path and query, the client Host else the URL’s, no token, TLS unverified', () => {
    const r = rawUpgradeTarget(app, 'b=2', { Host: ['app.example.com'] }, kube, cfg('map'));
    expect(r.ok && r.target).toEqual({ url: 'http://127.0.0.1:9999/pre/chat?b=2', requestPath: '/pre/chat?b=2', host: 'app.example.com', tls: { rejectUnauthorized: false }, headers: {} });
    const noHost = rawUpgradeTarget(app, '', {}, null, cfg('map'));
    expect(noHost.ok && noHost.target.host).toBe('127.0.0.1:9999');
    expect(rawUpgradeTarget({ kind: 'kube-stream', path: '/p' }, '', {}, null, cfg('map'))).toEqual({ ok: false, error: 'kubernetes client not initialized' });
  });
});
