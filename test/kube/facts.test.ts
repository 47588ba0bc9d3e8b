import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.ts';
import { cloudFromProviderId, countNodes, countPods, factsFromNode, nodeFacts } from '../../src/kube/cluster-info.ts';
import { buildServerSpecs, hostFacts } from '../../src/kube/host-facts.ts';
import { readServiceAccount, ServiceAccountError } from '../../src/kube/service-account.ts';
import { CA_PEM, FakeKube } from './support/fake-kube.ts';

let fake: FakeKube;
let client: KubeClient;
beforeAll(() => {
  fake = new FakeKube().start();
  client = new KubeClient({ server: fake.url, ca: CA_PEM, token: () => 'fake-token-0123456789', source: 'in-cluster' });
  fake.put('nodes', { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu-west-1' } }, spec: { providerID: 'aws:///eu-west-1a/i-0abc' } });
  fake.put('nodes', { metadata: { name: 'n2' } });
  fake.put('nodes', { metadata: { name: 'n3' } });
  for (const ns of ['a', 'b']) for (let i = 0; i < 4; i++) fake.put('pods', { metadata: { name: `p${i}`, namespace: ns } });
});
afterAll(() => fake.stop());

describe('cluster-info', () => {
  test('counts with limit=1 metadata-only lists and remainingItemCount', async () => {
    expect(await countNodes(client)).toBe(3);
    expect(await countPods(client)).toBe(8);
    expect(await countPods(client, 'a')).toBe(4);
    const req = fake.seen.at(-1)!;
    expect(req.path).toContain('limit=1');
    expect(req.accept).toContain('as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
  });

  test('falls back to the plain list when the server ignores limit and metadata-only', async () => {
    fake.honourLimit = false;
    try {
      expect(await countPods(client)).toBe(8);
    } finally {
      fake.honourLimit = true;
    }
  });

  test('region and cloud from the first node', async () => {
    expect(await nodeFacts(client)).toEqual({ region: 'eu-west-1', cloudProvider: 'aws' });
    expect(factsFromNode({ metadata: { labels: { 'failure-domain.beta.kubernetes.io/region': 'fra1' } }, spec: { providerID: 'digitalocean://123' } })).toEqual({
      region: 'fra1',
      cloudProvider: 'digitalocean',
    });
    expect(factsFromNode(undefined)).toEqual({ region: 'unknown-country', cloudProvider: 'agent' });
    expect(cloudFromProviderId('gce://proj/zone/vm')).toBe('gcp');
    expect(cloudFromProviderId('hcloud://42')).toBe('hetzner');
    expect(cloudFromProviderId('k3s://node')).toBe('bare-metal');
    expect(cloudFromProviderId('azure:///subscriptions/x')).toBe('azure');
    expect(cloudFromProviderId('something://x')).toBe('agent');
  });
});

describe('host facts', () => {
  test('server_specs from raw inputs; zero keys omitted, os falls back to linux', () => {
    expect(buildServerSpecs({ cpuCores: 8, meminfo: 'MemTotal:       16318412 kB\nMemFree: 1 kB\n', diskBytes: 100 * 2 ** 30 + 5, osRelease: 'NAME=x\nPRETTY_NAME="Ubuntu 24.04 LTS"\n' })).toEqual({
      cpu_cores: 8,
      memory_gb: 15,
      disk_gb: 100,
      os: 'Ubuntu 24.04 LTS',
    });
    expect(buildServerSpecs({ cpuCores: 0, meminfo: 'MemTotal: 512 kB\n', diskBytes: 0 })).toEqual({ os: 'linux' });
  });

  test('hostFacts on this machine', () => {
    const f = hostFacts();
    expect(f.hostname).toBeTruthy();
    expect(f.server_specs.cpu_cores).toBeGreaterThan(0);
  });
});

describe('service account files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sa-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('token trimmed, CA validated and base64 of the whole file, namespace', () => {
    writeFileSync(join(dir, 'token'), '  tok-abc \n');
    writeFileSync(join(dir, 'ca.crt'), CA_PEM);
    writeFileSync(join(dir, 'namespace'), 'pipeops-system\n');
    expect(readServiceAccount(dir)).toEqual({ token: 'tok-abc', caPem: CA_PEM, clusterCertData: Buffer.from(CA_PEM).toString('base64'), namespace: 'pipeops-system' });
  });

  test('a ca.crt that is not a PEM certificate is an error naming the file', () => {
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
    expect(() => readServiceAccount(dir)).toThrow(ServiceAccountError);
    expect(() => readServiceAccount(dir)).toThrow(join(dir, 'ca.crt'));
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nnot-der\n-----END CERTIFICATE-----\n');
    expect(() => readServiceAccount(dir)).toThrow(/does not parse/);
  });

  test('missing files are simply absent', () => {
    expect(readServiceAccount(join(dir, 'nope'))).toEqual({});
  });
});
