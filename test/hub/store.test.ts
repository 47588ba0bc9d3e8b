// The hub's store (src/hub/store/) against both backends: the same tests on SQLite (a temp file) and on a
// PostgreSQL server of the test's own (test/support/postgres.ts; skipped with a message when PostgreSQL is not
// installed, failed instead when PIPEOPS_POSTGRES=required). Replica cases open two stores on one database.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { tokenMatches } from '../../src/hub/auth.ts';
import { CredentialCipher, newKeyText, parseKey } from '../../src/hub/credential-cipher.ts';
import { MIGRATIONS } from '../../src/hub/store/migrations.ts';
import { openHubStore, redactDatabaseUrl } from '../../src/hub/store/open-store.ts';
import type { ClusterStore, HubStore, NewRoute } from '../../src/hub/store/types.ts';
import type { NewTunnel } from '../../src/hub/tunnels/tunnel-store.ts';
import { tempDir } from '../support/hub-agent.ts';
import { POSTGRES_REQUIRED, postgresUnavailable, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const KEY = newKeyText();
const cipher = () => CredentialCipher.create(parseKey(KEY)!);

const reg = (s: ClusterStore, agentId: string, name: string, requestedId?: string) =>
  s.register({ agentId, name, requestedId, k8sVersion: 'v1', agentVersion: '1', serviceToken: 'secret-sa', metadata: {}, registration: {} });

const route = (cluster_id: string, hostname: string, path = '/'): NewRoute => ({
  cluster_id,
  hostname,
  path,
  path_type: 'Prefix',
  namespace: 'ingress',
  service_name: 'traefik',
  service_port: 80,
  ingress_namespace: 'apps',
  ingress_name: 'web',
  tls: false,
  annotations: { a: 'b' },
  public_endpoint: '',
  routing_mode: 'tunnel',
  deployment_id: '',
  deployment_name: '',
});

const tunnel = (cluster_id: string, tunnel_id: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): NewTunnel => ({
  cluster_id,
  tunnel_id,
  protocol,
  gateway_name: 'edge',
  gateway_namespace: 'gw',
  gateway_port: port,
  service_name: tunnel_id,
  service_namespace: 'apps',
  service_port: port,
  routing_mode: 'tunnel',
  public_endpoint: '',
  labels: { app: tunnel_id },
  annotations: {},
});

interface Backend {
  name: 'sqlite' | 'postgres';
  /** Where a new, empty database is (a file path or a postgres:// URL). */
  fresh(): Promise<string>;
  skip: string | null;
}

let pg: TestPostgres | null = null;
const pgSkip = postgresUnavailable();
if (pgSkip && !POSTGRES_REQUIRED) console.log(`SKIPPED: the PostgreSQL cases of the store tests: ${pgSkip}`);

const backends: Backend[] = [
  { name: 'sqlite', fresh: async () => join(tempDir(), 'hub.db'), skip: null },
  {
    name: 'postgres',
    fresh: async () => {
      pg ??= await startPostgres();
      return pg.newDatabase();
    },
    // Required in CI: a missing PostgreSQL fails these tests there instead of skipping them.
    skip: POSTGRES_REQUIRED ? null : pgSkip,
  },
];

const opened: HubStore[] = [];
const open = async (database: string, c: CredentialCipher | null = null) => {
  const r = await openHubStore({ database, cipher: c ?? (await cipher()) });
  opened.push(r.store);
  return r;
};

afterAll(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => {});
  await pg?.stop();
});

for (const b of backends) {
  describe.skipIf(b.skip !== null)(`hub store on ${b.name}`, () => {
    let db = '';
    beforeAll(async () => {
      db = await b.fresh();
    }, 60_000);

    test('the schema is migrated once, in order; a database from a newer hub is refused clearly', async () => {
      const here = await b.fresh();
      const first = await open(here);
      expect(first.migrated).toEqual(MIGRATIONS.map((m) => m.version));
      const again = await open(here);
      expect(again.migrated).toEqual([]);
      await again.store.close();
      const newest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
      const raw = await openRaw(here);
      await raw.exec('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [newest + 1, 'from the future', 'x']);
      await raw.close();
      await expect(open(here)).rejects.toThrow(new RegExp(`schema version ${newest + 1}; this hub knows versions up to ${newest}`));
    });

    test('cluster id is stable per (agent id, name) and survives a reopen, credentials too', async () => {
      const s1 = (await open(db)).store;
      const a = await reg(s1.clusters, 'agent-1', 'prod');
      expect((await reg(s1.clusters, 'agent-1', 'prod')).cluster_id).toBe(a.cluster_id);
      expect((await reg(s1.clusters, 'agent-1', 'staging')).cluster_id).not.toBe(a.cluster_id);
      await s1.close();
      const s2 = (await open(db)).store;
      expect((await reg(s2.clusters, 'agent-1', 'prod')).cluster_id).toBe(a.cluster_id);
      expect((await s2.clusters.get(a.cluster_id))?.k8s_service_token).toBe('secret-sa');
      expect((await s2.clusters.find('prod'))?.cluster_id).toBe(a.cluster_id);
      expect((await s2.clusters.list()).map((c) => c.name).sort()).toEqual(['prod', 'staging']);
    });

    test('an unknown requested id is adopted; a taken one is not', async () => {
      const s = (await open(await b.fresh())).store;
      expect((await reg(s.clusters, 'agent-1', 'prod', 'persisted-id')).cluster_id).toBe('persisted-id');
      expect((await reg(s.clusters, 'agent-2', 'other', 'persisted-id')).cluster_id).not.toBe('persisted-id');
    });

    test('heartbeats update only known clusters', async () => {
      const s = (await open(await b.fresh())).store;
      const a = await reg(s.clusters, 'agent-1', 'prod');
      expect(await s.clusters.recordHeartbeat(a.cluster_id, { status: 'healthy' })).toBe(true);
      expect(await s.clusters.recordHeartbeat('nope', {})).toBe(false);
      expect((await s.clusters.get(a.cluster_id))?.last_heartbeat_payload).toEqual({ status: 'healthy' });
    });

    test('the credential is stored encrypted; a store without a cipher refuses to hold one', async () => {
      const here = await b.fresh();
      const s = (await open(here)).store;
      const a = await reg(s.clusters, 'agent-1', 'prod');
      const raw = await openRaw(here);
      const [row] = await raw.all<{ k8s_service_token: string }>('SELECT k8s_service_token FROM clusters WHERE cluster_id = ?', [a.cluster_id]);
      await raw.close();
      expect(row!.k8s_service_token).toStartWith('v1:');
      expect(row!.k8s_service_token).not.toContain('secret-sa');
      const bare = (await openHubStore({ database: here, cipher: null })).store;
      opened.push(bare);
      await expect(reg(bare.clusters, 'agent-1', 'prod')).rejects.toThrow(/holds no credentials/);
      expect((await bare.clusters.get(a.cluster_id))?.k8s_service_token).toBe('');
    });

    test('routes: one host belongs to one cluster; sync replaces the set; unregister asks who may act', async () => {
      const s = (await open(await b.fresh())).store;
      const changes: number[] = [];
      s.routes.onChange(() => void changes.push(1));
      expect(await s.routes.register(route('c1', 'a.example.com'))).toEqual({ change: 'created' });
      expect(await s.routes.register(route('c1', 'a.example.com'))).toEqual({ change: 'unchanged' });
      expect(await s.routes.register(route('c2', 'a.example.com', '/x'))).toEqual({ conflict: { hostname: 'a.example.com', owner: 'c1' } });
      expect(await s.routes.sync('c1', [route('c1', 'a.example.com', '/'), route('c1', 'b.example.com', '/api')])).toEqual({ added: 1, removed: 0, updated: 0, total: 2 });
      expect(await s.routes.sync('c2', [route('c2', 'b.example.com')])).toEqual({ conflict: { hostname: 'b.example.com', owner: 'c1' } });
      const listed = await s.routes.list('c1');
      expect(listed.map((r) => `${r.hostname}${r.path}`)).toEqual(['a.example.com/', 'b.example.com/api']);
      expect(listed[0]).toMatchObject({ service_port: 80, tls: false, annotations: { a: 'b' } });
      expect(await s.routes.unregister('a.example.com', async (owner) => owner === 'c2')).toEqual({ conflict: { hostname: 'a.example.com', owner: 'c1' } });
      expect(await s.routes.unregister('a.example.com', (owner) => owner === 'c1')).toEqual({ removed: 1 });
      expect(await s.routes.ownerOf('a.example.com')).toBeNull();
      expect(changes.length).toBe(3);
    });

    test('session leases: a holder counts while its lease runs; a dead one expires with its sessions; the latest claim wins', async () => {
      const s = (await open(await b.fresh())).store;
      const t = 1_000_000;
      await s.leases.heartbeatReplica({ replica_id: 'A', kube_url: 'https://a:6443', public_url: 'http://a', expires_at: t + 1000 });
      await s.leases.heartbeatReplica({ replica_id: 'B', kube_url: 'https://b:6443', public_url: 'http://b', expires_at: t + 5000 });
      await s.leases.claim('c1', 'A');
      await s.leases.claim('c2', 'A');
      expect((await s.leases.holder('c1', t))?.replica_id).toBe('A');
      expect((await s.leases.held('A')).sort()).toEqual(['c1', 'c2']);
      // A stops renewing: at t+1000 its sessions no longer count, before anything is deleted.
      expect(await s.leases.holder('c1', t + 1000)).toBeNull();
      expect((await s.leases.replicas(t + 1000)).map((r) => r.replica_id)).toEqual(['B']);
      // The agent of c2 reconnects to B.
      await s.leases.claim('c2', 'B');
      expect((await s.leases.holder('c2', t + 1000))?.public_url).toBe('http://b');
      expect(await s.leases.expire(t + 1000)).toBe(1);
      expect(await s.leases.held('A')).toEqual([]);
      // A release by a replica that no longer holds the session changes nothing.
      await s.leases.release('c2', 'A');
      expect((await s.leases.holder('c2', t + 1000))?.replica_id).toBe('B');
      await s.leases.leave('B');
      expect(await s.leases.holder('c2', t)).toBeNull();
    });

    test('session leases in bulk: 450 claims (over two statement chunks, duplicates folded), the latest claim wins, releases only this replica\'s', async () => {
      const s = (await open(await b.fresh())).store;
      const t = 1_000_000;
      await s.leases.heartbeatReplica({ replica_id: 'A', kube_url: '', public_url: '', expires_at: t + 5000 });
      await s.leases.heartbeatReplica({ replica_id: 'B', kube_url: '', public_url: '', expires_at: t + 5000 });
      const ids = Array.from({ length: 450 }, (_, i) => `bulk-${i}`);
      await s.leases.claimMany([...ids, 'bulk-0', 'bulk-449'], 'A');
      expect((await s.leases.held('A')).length).toBe(450);
      // B takes over a third; A's release of everything leaves B's claims alone.
      await s.leases.claimMany(ids.slice(0, 150), 'B');
      await s.leases.releaseMany(ids, 'A');
      expect(await s.leases.held('A')).toEqual([]);
      expect((await s.leases.held('B')).sort()).toEqual(ids.slice(0, 150).sort());
      await s.leases.claimMany([], 'A');
      await s.leases.releaseMany([], 'A');
    });

    test('two stores on one database (replicas): each reads what the other wrote, credentials included', async () => {
      const here = await b.fresh();
      const a = (await open(here)).store;
      const c = (await open(here)).store;
      const rec = await reg(a.clusters, 'agent-1', 'prod');
      expect((await c.clusters.get(rec.cluster_id))?.k8s_service_token).toBe('secret-sa');
      await a.routes.sync(rec.cluster_id, [route(rec.cluster_id, 'shared.example.com')]);
      expect((await c.routes.list()).map((r) => r.hostname)).toEqual(['shared.example.com']);
    });

    test('the tunnel registry: register, sync (a service-less entry keeps its service), deregister; the hub port survives a re-register', async () => {
      const s = (await open(await b.fresh())).store;
      const t = tunnel('c1', 'redis', 6379);
      expect((await s.tunnels.register(t)).change).toBe('created');
      expect((await s.tunnels.register(t)).change).toBe('unchanged');
      expect(await s.tunnels.setTunnelPort('c1', 'redis', 40001)).toBe(true);
      expect((await s.tunnels.register({ ...t, gateway_port: 6380 })).tunnel).toMatchObject({ gateway_port: 6380, tunnel_port: 40001, labels: { app: 'redis' } });
      const synced = await s.tunnels.sync('c1', [{ ...t, gateway_port: 6380, service_name: '', service_namespace: '', service_port: 0 }, tunnel('c1', 'dns', 53, 'udp')]);
      expect({ added: synced.added, removed: synced.removed, updated: synced.updated }).toEqual({ added: 1, removed: 0, updated: 0 });
      expect((await s.tunnels.get('c1', 'redis'))?.service_name).toBe('redis');
      await s.tunnels.register(tunnel('c2', 'redis', 6379));
      expect((await s.tunnels.sync('c1', [])).removed).toBe(2);
      expect((await s.tunnels.list()).map((x) => `${x.cluster_id}/${x.tunnel_id}`)).toEqual(['c2/redis']);
      expect((await s.tunnels.deregister('c2', 'redis')).removed).toBe(1);
      expect(await s.tunnels.setTunnelPort('c2', 'redis', 1)).toBe(false);
    });

    if (b.name === 'postgres') {
      test('a route change on one replica reaches the other replica\'s listeners (LISTEN/NOTIFY)', async () => {
        const here = await b.fresh();
        const a = (await open(here)).store;
        const c = (await open(here)).store;
        let seen = 0;
        c.routes.onChange(() => void seen++);
        await a.routes.register(route('c1', 'notify.example.com'));
        await waitFor(() => seen === 1, { what: 'the other replica notified' });
        await a.routes.unregister('notify.example.com', () => true);
        await waitFor(() => seen === 2, { what: 'the unregister notified' });
      });

      test('a tunnel change on one replica reaches the other replica\'s listeners (LISTEN/NOTIFY)', async () => {
        const here = await b.fresh();
        const a = (await open(here)).store;
        const c = (await open(here)).store;
        let seen = 0;
        c.tunnels.onChange(() => void seen++);
        await a.tunnels.register(tunnel('c1', 'redis', 6379));
        await waitFor(() => seen === 1, { what: 'the other replica notified' });
        expect((await c.tunnels.list()).map((x) => x.tunnel_id)).toEqual(['redis']);
      });

      test('two replicas claiming one host at once: exactly one wins, the other gets the conflict', async () => {
        const here = await b.fresh();
        const a = (await open(here)).store;
        const c = (await open(here)).store;
        for (let i = 0; i < 10; i++) {
          const host = `race${i}.example.com`;
          const out = await Promise.all([a.routes.sync('ca', [route('ca', host)]), c.routes.sync('cb', [route('cb', host)])]);
          const wins = out.filter((o) => 'total' in o).length;
          expect({ i, wins }).toEqual({ i, wins: 1 });
          expect(out.some((o) => 'conflict' in o)).toBe(true);
          await a.routes.sync('ca', []);
          await c.routes.sync('cb', []);
        }
      });

      test('the database URL is redacted in errors and logs', async () => {
        expect(redactDatabaseUrl('postgres://hub:s3cret-pw@db:5432/hub?sslmode=require&password=x')).toBe('postgres://hub:***@db:5432/hub?sslmode=require&password=***');
        const bad = `postgres://nobody:s3cret-pw@127.0.0.1:${pg!.port}/no_such_db`;
        const err = await openHubStore({ database: bad, cipher: null }).then(
          () => null,
          (e: Error) => e,
        );
        expect(err?.message).toContain('cannot open the state database postgres://nobody:***@');
        expect(err?.message).not.toContain('s3cret-pw');
      });
    }
  });
}

/** Direct SQL on a test database, bypassing the store (what an attacker with the files, or an operator, sees). */
async function openRaw(database: string): Promise<{ all<T>(q: string, p: unknown[]): Promise<T[]>; exec(q: string, p: unknown[]): Promise<void>; close(): Promise<void> }> {
  if (database.startsWith('postgres')) {
    const { SQL } = await import('bun');
    const sql = new SQL(database, { max: 1 });
    let n = 0;
    const num = (q: string) => q.replace(/\?/g, () => `$${++n}`);
    return {
      all: async <T>(q: string, p: unknown[]) => {
        n = 0;
        return [...((await sql.unsafe(num(q), p)) as T[])];
      },
      exec: async (q, p) => {
        n = 0;
        await sql.unsafe(num(q), p);
      },
      close: () => sql.close(),
    };
  }
  const { Database } = await import('bun:sqlite');
  const d = new Database(database);
  return {
    all: async <T>(q: string, p: unknown[]) => d.query(q).all(...(p as never[])) as T[],
    exec: async (q, p) => void d.query(q).run(...(p as never[])),
    close: async () => d.close(),
  };
}

describe('credential cipher', () => {
  test('round trip; bound to its row; other keys refuse; keys as base64 or hex', async () => {
    const c = await CredentialCipher.create(parseKey(KEY)!);
    const ct = await c.encrypt('sa-token', 'cluster-1');
    expect(ct).toStartWith('v1:');
    expect(ct).not.toContain('sa-token');
    expect(await c.decrypt(ct, 'cluster-1')).toBe('sa-token');
    await expect(c.decrypt(ct, 'cluster-2')).rejects.toThrow(/moved from another row/);
    const other = await CredentialCipher.create(parseKey(newKeyText())!);
    await expect(other.decrypt(ct, 'cluster-1')).rejects.toThrow(/neither credentials\.key nor/);
    expect(parseKey('ab'.repeat(32))?.length).toBe(32);
    expect(parseKey('too-short')).toBeNull();
  });
});

describe('token comparison', () => {
  test('matches only exact tokens', () => {
    expect(tokenMatches('abc-123-xyz', ['other', 'abc-123-xyz'])).toBe(true);
    expect(tokenMatches('abc-123-xy', ['abc-123-xyz'])).toBe(false);
    expect(tokenMatches(undefined, ['abc'])).toBe(false);
    expect(tokenMatches('', [''])).toBe(false);
  });
});
