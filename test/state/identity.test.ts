import { expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { deriveAgentId, firstMac, gatherIdentityFacts, resolveAgentId } from '../../src/state/identity.ts';

const facts = { hostname: 'node-1', machineId: 'abc123', mac: '02:42:ac:11:00:02', podUid: 'uid-1', podNamespace: 'pipeops-system', podName: 'agent-0' };

test('precedence: configured ▸ persisted ▸ derived', () => {
  expect(resolveAgentId({ configured: 'cfg', persisted: 'per', facts })).toEqual({ id: 'cfg', source: 'configured' });
  expect(resolveAgentId({ configured: '  ', persisted: 'per', facts })).toEqual({ id: 'per', source: 'persisted' });
  expect(resolveAgentId({ persisted: '', facts })).toEqual({ id: deriveAgentId(facts), source: 'derived' });
});

test('derived id: agent- + 16 hex of SHA-256 over the present facts joined by |, stable, fact-sensitive', () => {
  const id = deriveAgentId(facts);
  expect(id).toMatch(/^agent-[0-9a-f]{16}$/);
  expect(deriveAgentId({ ...facts })).toBe(id);
  const expected = createHash('sha256').update('node-1|abc123|02:42:ac:11:00:02|uid-1|pipeops-system|agent-0').digest('hex').slice(0, 16);
  expect(id).toBe(`agent-${expected}`);
  // Absent components are skipped, not joined as empty strings.
  const partial = createHash('sha256').update('node-1|agent-0').digest('hex').slice(0, 16);
  expect(deriveAgentId({ hostname: 'node-1', podName: 'agent-0' })).toBe(`agent-${partial}`);
  expect(deriveAgentId({ ...facts, podUid: 'uid-2' })).not.toBe(id);
});

test('gatherIdentityFacts reads the Pod env and the host; firstMac skips loopback', () => {
  const f = gatherIdentityFacts({ POD_UID: 'u', POD_NAMESPACE: 'n', POD_NAME: 'p' });
  expect(f).toMatchObject({ podUid: 'u', podNamespace: 'n', podName: 'p' });
  expect(f.hostname).toBeTruthy();
  expect(deriveAgentId(gatherIdentityFacts({}))).toBe(deriveAgentId(gatherIdentityFacts({})));
  expect(
    firstMac({
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: null }],
      eth0: [{ address: '10.0.0.2', netmask: '255.0.0.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: null }],
    }),
  ).toBe('02:00:00:00:00:01');
});

test('outside a Pod the instance facts tell agents on one host apart; in a Pod upstream\'s derivation is kept (issue 10 item 15)', () => {
  const host = { hostname: 'vm-1', machineId: 'm', mac: '02:00:00:00:00:01' };
  const a = deriveAgentId({ ...host, instance: ['cluster-a', 'https://10.0.0.1:6443', 'file /a/state.yaml'] });
  const b = deriveAgentId({ ...host, instance: ['cluster-b', 'https://10.0.0.2:6443', 'file /b/state.yaml'] });
  expect(a).not.toBe(b);
  expect(deriveAgentId({ ...host, instance: ['cluster-a', 'https://10.0.0.1:6443', 'file /a/state.yaml'] })).toBe(a);
  // In a Pod the instance facts are ignored: the id is upstream's, byte for byte.
  expect(deriveAgentId({ ...facts, instance: ['anything'] })).toBe(deriveAgentId(facts));
  expect(deriveAgentId({ ...facts, instance: ['anything'] })).toBe(`agent-${createHash('sha256').update('node-1|abc123|02:42:ac:11:00:02|uid-1|pipeops-system|agent-0').digest('hex').slice(0, 16)}`);
  expect(gatherIdentityFacts({ POD_UID: 'u' }, ['x']).instance).toEqual(['x']);
});
