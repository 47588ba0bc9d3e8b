// The pure decisions of the channel-translation path (agents without raw_upgrade): which wire a kubectl upgrade
// gets, and which translated text message is the API server's status.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { failureStatus, parseChannelStatus, planTranslation, type UpgradeFacts } from '../../src/hub/kube-gateway/channel-translation.ts';

const facts = (over: Partial<UpgradeFacts>): UpgradeFacts => ({ method: 'GET', path: '/api/v1/namespaces/d/pods/p/exec', query: 'command=sh&stdout=true&stderr=true', upgrade: 'websocket', offered: [], streamVersions: [], ...over });

describe('planTranslation', () => {
  test('exec/attach over WebSocket: the first of v5/v4 in the client order, output on stdout unless only stderr was asked', () => {
    expect(planTranslation(facts({ offered: ['v5.channel.k8s.io'] }))).toEqual({ ok: true, kind: 'exec', protocol: 'v5.channel.k8s.io', outputChannel: 1 });
    expect(planTranslation(facts({ offered: ['v3.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'] }))).toMatchObject({ ok: true, protocol: 'v4.channel.k8s.io' });
    expect(planTranslation(facts({ path: '/api/v1/namespaces/d/pods/p/attach', offered: ['v5.channel.k8s.io'] }))).toMatchObject({ ok: true, kind: 'exec' });
    expect(planTranslation(facts({ query: 'command=x&stderr=true', offered: ['v4.channel.k8s.io'] }))).toMatchObject({ outputChannel: 2 });
  });

  test('exec without v4/v5 is refused with 400 and a reason, over WebSocket and over SPDY', () => {
    const old = planTranslation(facts({ offered: ['v3.channel.k8s.io', 'channel.k8s.io'] }));
    expect(old).toMatchObject({ ok: false, status: 400 });
    expect(!old.ok && old.message).toContain('requested protocol(s) are not supported: [v3.channel.k8s.io channel.k8s.io]');
    const spdy = planTranslation(facts({ method: 'POST', upgrade: 'spdy/3.1', streamVersions: ['v3.channel.k8s.io', 'channel.k8s.io'] }));
    expect(!spdy.ok && spdy.message).toContain('exec over SPDY needs stream protocol v4.channel.k8s.io or v5.channel.k8s.io');
  });

  test('exec over SPDY: v4 answered to the client (v5 only when v4 is not offered), v5 asked of the API server, the streams the client opens', () => {
    const versions = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
    expect(planTranslation(facts({ method: 'POST', upgrade: 'spdy/3.1', streamVersions: versions, query: 'command=cat&stdin=true&stdout=true&stderr=true' }))).toEqual({
      ok: true,
      kind: 'spdy-exec',
      clientProtocol: 'v4.channel.k8s.io',
      protocol: 'v5.channel.k8s.io',
      outputChannel: 1,
      streams: ['error', 'stdin', 'stdout', 'stderr'],
    });
    expect(planTranslation(facts({ method: 'POST', upgrade: 'spdy/3.1', streamVersions: ['v5.channel.k8s.io'], query: 'command=sh&stdin=true&stdout=true&tty=true' }))).toMatchObject({
      clientProtocol: 'v5.channel.k8s.io',
      streams: ['error', 'stdin', 'stdout', 'resize'],
    });
  });

  test('port-forward: the SPDY tunnel over WebSocket, or raw SPDY; the kubelet v4 protocol is refused', () => {
    const pf = '/api/v1/namespaces/d/pods/p/portforward';
    expect(planTranslation(facts({ path: pf, query: '', offered: ['SPDY/3.1+portforward.k8s.io'] }))).toEqual({ ok: true, kind: 'tunnel', client: 'websocket', protocol: 'SPDY/3.1+portforward.k8s.io' });
    expect(planTranslation(facts({ path: pf, query: '', method: 'POST', upgrade: 'spdy/3.1', streamVersions: ['portforward.k8s.io'] }))).toEqual({ ok: true, kind: 'tunnel', client: 'spdy', protocol: 'SPDY/3.1+portforward.k8s.io' });
    expect(planTranslation(facts({ path: pf, query: 'ports=80', offered: ['v4.channel.k8s.io'] }))).toMatchObject({ ok: false, status: 400 });
  });

  test('other upgrade paths are refused', () => {
    expect(planTranslation(facts({ path: '/api/v1/namespaces/d/services/s/proxy/ws', offered: ['chat'] }))).toMatchObject({ ok: false, status: 400 });
  });
});

describe('parseChannelStatus', () => {
  test('the statuses v4/v5 API servers send', () => {
    expect(parseChannelStatus('{"metadata":{},"status":"Success"}')).toEqual({ metadata: {}, status: 'Success' });
    const f = parseChannelStatus('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}');
    expect(f?.reason).toBe('NonZeroExitCode');
    expect(parseChannelStatus('{"kind":"Status","apiVersion":"v1","status":"Failure"}')?.status).toBe('Failure');
  });

  test('ordinary output is not a status', () => {
    for (const t of ['hello\n', '{"status":"Success"}', '{"metadata":{},"status":"ok"}', '{"metadata":{},"status":"Success"', '[1,2]', ''])
      expect(parseChannelStatus(t)).toBeNull();
  });

  test('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), (s) => parseChannelStatus(s) === null || typeof parseChannelStatus(s) === 'object'));
  });
});

test('failureStatus carries the agent error and the API server status when the error names one', () => {
  expect(JSON.parse(failureStatus('failed to connect to K8s API: websocket: bad handshake (status: 403)'))).toMatchObject({ status: 'Failure', code: 403 });
  expect(JSON.parse(failureStatus('boom'))).toMatchObject({ status: 'Failure', code: 500, message: 'boom' });
});
