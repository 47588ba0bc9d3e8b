// @kubernetes/client-node 2.0.1 against the sandbox: Exec negotiates v5 and closes stdin with the v5 CLOSE
// signal (cat must see EOF and exit 0); PortForward uses the kubelet WebSocket protocol (v4 with ?ports=).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { PassThrough, Readable, Writable } from 'node:stream';
import { Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { startStreamSandbox, TOKEN } from './sandbox-fixture.ts';

let sandbox: Sandbox;
let kc: KubeConfig;

beforeAll(async () => {
  sandbox = await startStreamSandbox();
  kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig({ token: TOKEN }));
});
afterAll(() => sandbox.close());

function collector(): { stream: Writable; text(): string; until(s: string): Promise<void> } {
  const chunks: Buffer[] = [];
  const waiters: { s: string; resolve(): void }[] = [];
  const text = () => Buffer.concat(chunks).toString('utf8');
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        for (const w of waiters.filter((x) => text().includes(x.s))) w.resolve();
        cb();
      },
    }),
    text,
    /** Resolves when the collected output contains `s` (the test's own timeout bounds the wait). */
    until: (s) => (text().includes(s) ? Promise.resolve() : new Promise((resolve) => waiters.push({ s, resolve }))),
  };
}

describe('client-node', () => {
  test('Exec: v5, stdin piped to cat and closed, Success status', async () => {
    const out = collector();
    const err = collector();
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc)
        .exec('default', 'web-0', 'web', ['cat'], out.stream, err.stream, Readable.from([Buffer.from('from client-node\n')]), false, resolve)
        .catch(reject);
    });
    expect(status.status).toBe('Success');
    expect(out.text()).toBe('from client-node\n');
    const upgrade = sandbox.requests.find((r) => r.url.includes('/pods/web-0/exec'));
    expect(upgrade?.protocols?.split(',')[0]?.trim()).toBe('v5.channel.k8s.io');
  });

  test('Exec: non-zero exit arrives as a Failure status with the ExitCode cause', async () => {
    const out = collector();
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc).exec('default', 'web-0', 'web', ['sh', '-c', 'exit 5'], out.stream, null, null, false, resolve).catch(reject);
    });
    expect(status.status).toBe('Failure');
    expect(status.reason).toBe('NonZeroExitCode');
    expect(status.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '5' });
  });

  test('PortForward: v4 channel protocol with ?ports=, upper-casing echo round trip', async () => {
    const out = collector();
    const input = new PassThrough();
    const ws = await new PortForward(kc).portForward('default', 'web-0', [80], out.stream, null, input);
    input.write('hello pf\n');
    await out.until('HELLO PF');
    expect(out.text()).toBe('HELLO PF\n');
    (ws as { close(): void }).close();
    const upgrade = sandbox.requests.find((r) => r.url.includes('/pods/web-0/portforward'));
    expect(upgrade?.url).toContain('ports=80');
  });
});
