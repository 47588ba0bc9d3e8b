// The container image (dist/pipeops-agent-<version>.oci.tar, `npm run image`), inspected and then run under runc
// the way Kubernetes runs the chart's pod: uid 65532, read-only root, no capabilities, a tmpfs /tmp, in a network
// namespace this test creates. The agent container's settings are read from deploy/agent.yaml (the chart rendered
// with its defaults; test/packaging/chart.test.ts keeps the two equal), so this run also proves the chart's
// defaults match the image. Needs root, runc, umoci and ip: run by scripts/image/ci-tier.sh as
// `bun test ./test/image/image.tier.ts` (the name keeps it out of `bun test`'s discovery: it is a CI tier).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const REPO = join(import.meta.dir, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE = `ghcr.io/pipeopshq/pipeops-agent:${VERSION}`;
const ARCHIVE = process.env.PIPEOPS_IMAGE_ARCHIVE ?? join(REPO, 'dist', `pipeops-agent-${VERSION}.oci.tar`);
const STOP_BUDGET_MS = 10_000;
const HUB_PORT = 8090;
const AGENT_TOKEN = 'image-test-agent-token';
const ADMIN_TOKEN = 'image-test-admin-token';
const SA_TOKEN = 'image-test-service-account-token';

type Json = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and JSON, walked by shape
type Loose = any;
type Container = { id: string; proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>; out: string[] };

const work = mkdtempSync(join(tmpdir(), 'pipeops-image-test-'));
const runcRoot = join(work, 'runc');
const netns = `pipeops-img-${process.pid}`;
const socket = join(work, 'netns.sock');
let rootfs = '';
let baseSpec: Loose;
let imageConfig: Loose;
let peer: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined;
let sandbox: { sandboxPort: number; caPem: string };
const running = new Map<string, Container>();

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: 'pipe', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function blob(layout: string, digest: string): Json {
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8')) as Json;
}

/** HTTP to a port inside the network namespace, through the peer's Unix-socket relay. */
function fetchIn(port: number, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('x-netns-port', String(port));
  return fetch(`http://netns${path}`, { ...init, headers, unix: socket } as RequestInit);
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, c: Container, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (c.proc.exitCode !== null) throw new Error(`${c.id} exited (${c.proc.exitCode}) while waiting for ${what}:\n${c.out.slice(-20).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${String(last)}\n${c.out.slice(-20).join('\n')}`);
    await Bun.sleep(100); // poll interval of a readiness wait, not a synchronisation sleep
  }
}

type RunOptions = { args: string[]; env?: string[]; uid: number; gid: number; readonlyRoot: boolean; noNewPrivileges: boolean; caps: string[]; mounts: Loose[] };

/** A runc bundle: the image's runtime config (umoci) with the pod's settings, root = the shared unpacked rootfs. */
function spec(id: string, o: RunOptions): Loose {
  const s = structuredClone(baseSpec);
  s.linux.cgroupsPath = `/pipeops-image-test-${process.pid}-${id}`; // runc's default (/<id>) could collide across runs
  s.process.terminal = false;
  s.process.args = o.args;
  s.process.env = [...s.process.env, ...(o.env ?? [])];
  s.process.user = { uid: o.uid, gid: o.gid };
  s.process.noNewPrivileges = o.noNewPrivileges;
  s.process.capabilities = { bounding: o.caps, effective: o.caps, inheritable: o.caps, permitted: o.caps, ambient: o.caps };
  s.root = { path: rootfs, readonly: o.readonlyRoot };
  s.mounts = [...s.mounts, ...o.mounts];
  s.linux.namespaces = s.linux.namespaces.map((n: Loose) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${netns}` } : n));
  return s;
}

function start(id: string, o: RunOptions): Container {
  const bundle = join(work, 'bundles', id);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec(id, o)));
  const proc = Bun.spawn(['runc', '--root', runcRoot, 'run', '--bundle', bundle, id], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const c: Container = { id, proc, out: [] };
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        c.out.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) c.out.push(buf);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  running.set(id, c);
  return c;
}

/** SIGTERM through runc; the exit code and how long the container took to stop. */
async function stop(c: Container): Promise<{ code: number; ms: number }> {
  const t0 = performance.now();
  sh(['runc', '--root', runcRoot, 'kill', c.id, 'TERM']);
  const code = await c.proc.exited;
  running.delete(c.id);
  return { code, ms: Math.round(performance.now() - t0) };
}

function containerPid(c: Container): number {
  return (JSON.parse(sh(['runc', '--root', runcRoot, 'state', c.id])) as { pid: number }).pid;
}

/** What the kernel says about the container's process: ids, capabilities, no_new_privs, how / is mounted. */
function processFacts(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
  const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
  return {
    uid: field('Uid'),
    gid: field('Gid'),
    caps: ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map((k) => field(k)?.[0]),
    noNewPrivs: field('NoNewPrivs')?.[0],
    rootOptions: root?.split(' ')[5]?.split(',') ?? [],
  };
}

const tmpfs = (destination: string, size: string) => ({ destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${size}`] });
const bind = (destination: string, source: string) => ({ destination, type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev'] });

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the image tier needs root (runc, network namespaces)');
  for (const tool of ['runc', 'umoci', 'ip']) if (!Bun.which(tool)) throw new Error(`${tool} not found: apt-get install -y buildah umoci skopeo runc iproute2`);
  if (!existsSync(ARCHIVE)) throw new Error(`${ARCHIVE} is missing: npm run image`);
  const layout = join(work, 'layout');
  mkdirSync(layout);
  sh(['tar', '-xf', ARCHIVE, '-C', layout]);
  sh(['umoci', 'unpack', '--image', `${layout}:${IMAGE}`, join(work, 'bundle')]);
  rootfs = join(work, 'bundle', 'rootfs');
  baseSpec = JSON.parse(readFileSync(join(work, 'bundle', 'config.json'), 'utf8'));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = blob(layout, index.manifests[0]!.digest) as { config: { digest: string } };
  imageConfig = (blob(layout, manifest.config.digest) as { config: Loose }).config;
  sh(['ip', 'netns', 'add', netns]);
  sh(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  peer = Bun.spawn(['ip', 'netns', 'exec', netns, process.execPath, join(import.meta.dir, 'netns-peer.ts'), socket, SA_TOKEN], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const reader = peer.stdout.getReader();
  const dec = new TextDecoder();
  let first = '';
  while (!first.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`netns peer exited: ${await new Response(peer.stderr).text()}`);
    first += dec.decode(value, { stream: true });
  }
  reader.releaseLock();
  sandbox = JSON.parse(first.split('\n')[0] as string);
}, 180_000);

afterAll(async () => {
  for (const c of running.values()) {
    Bun.spawnSync(['runc', '--root', runcRoot, 'kill', c.id, 'KILL']);
    await c.proc.exited;
    Bun.spawnSync(['runc', '--root', runcRoot, 'delete', '--force', c.id]);
  }
  if (peer) {
    peer.kill('SIGTERM');
    await peer.exited;
  }
  Bun.spawnSync(['ip', 'netns', 'delete', netns]);
  rmSync(work, { recursive: true, force: true });
});

describe('the image, inspected', () => {
  test('config: user 65532, exec-form entrypoint and cmd, port 8080, OCI labels; one name and tag', () => {
    const layout = join(work, 'layout');
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Json }[] };
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual([IMAGE]);
    const manifest = blob(layout, index.manifests[0]!.digest) as { config: { digest: string }; layers: unknown[] };
    const config = imageConfig;
    expect(config.User).toBe('65532:65532');
    expect(config.Entrypoint).toEqual(['/pipeops-agent']);
    expect(config.Cmd).toEqual(['agent']);
    expect(Object.keys(config.ExposedPorts)).toEqual(['8080/tcp']);
    expect(config.Labels).toEqual({
      'org.opencontainers.image.title': 'pipeops-agent',
      'org.opencontainers.image.description': expect.stringContaining('PipeOps Kubernetes agent'),
      'org.opencontainers.image.source': 'https://github.com/PipeOpsHQ/pipeops-k8-agent',
      'org.opencontainers.image.licenses': 'NOASSERTION',
      'org.opencontainers.image.version': VERSION,
    });
    expect(manifest.layers.length).toBe(2); // the base, then the binary
  });

  test('root filesystem: no shell and no program but /pipeops-agent; the base packages are the pinned ones', () => {
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin']) expect({ d, present: existsSync(join(rootfs, d)) }).toEqual({ d, present: false });
    const shells = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'busybox', 'toybox']);
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (shells.has(e.name)) found.push(p);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(rootfs);
    expect(found).toEqual([]);
    expect(statSync(join(rootfs, 'pipeops-agent')).mode & 0o7777).toBe(0o555);
    const passwd = readFileSync(join(rootfs, 'etc', 'passwd'), 'utf8');
    expect(passwd).toContain('nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
    const lock = readFileSync(join(REPO, 'scripts', 'image', 'base-packages.lock'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(' ').slice(0, 2).join('='));
    const recorded = readdirSync(join(rootfs, 'var', 'lib', 'dpkg', 'status.d')).map((n) => {
      const control = readFileSync(join(rootfs, 'var', 'lib', 'dpkg', 'status.d', n), 'utf8');
      return `${n}=${/^Version: (.+)$/m.exec(control)?.[1]}`;
    });
    expect(recorded.sort()).toEqual(lock.sort());
    expect(readFileSync(join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), 'utf8')).toContain('-----BEGIN CERTIFICATE-----');
  });
});

// The pod's settings for a process of ours, as deploy/agent.yaml states them for the agent; the hub uses the same.
const POD = { uid: 65532, gid: 65532, readonlyRoot: true, noNewPrivileges: true, caps: [] as string[] };

describe('the image, run under runc as the chart runs it', () => {
  test('--version as uid 65532, read-only root, no capabilities', async () => {
    const c = start('version', { ...POD, args: ['/pipeops-agent', '--version'], mounts: [tmpfs('/tmp', '64m')] });
    expect(await c.proc.exited).toBe(0);
    running.delete(c.id);
    expect(c.out.join('\n')).toMatch(new RegExp(`^pipeops-agent ${VERSION.replaceAll('.', '\\.')} \\(commit [^)]+, bun \\d`));
  }, 60_000);

  let hub: Container;
  test('hub: state and its generated gateway certificate in /tmp; /healthz and /readyz answer', async () => {
    hub = start('hub', {
      ...POD,
      args: ['/pipeops-agent', 'hub', '--host', '127.0.0.1', '--port', String(HUB_PORT), '--kube-port', '6443', '--gateway-port', '8088', '--state', '/tmp/hub.db'],
      env: [`PIPEOPS_HUB_AGENT_TOKEN=${AGENT_TOKEN}`, `PIPEOPS_HUB_ADMIN_TOKEN=${ADMIN_TOKEN}`],
      mounts: [tmpfs('/tmp', '64m')],
    });
    await until('hub /healthz', async () => (await fetchIn(HUB_PORT, '/healthz')).status === 200, hub);
    const ready = await fetchIn(HUB_PORT, '/readyz');
    expect([ready.status, await ready.text()]).toEqual([200, 'ok']);
    const pid = containerPid(hub);
    // The certificate minted in-process (the image has no openssl), seen through the container's root.
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) expect(existsSync(`/proc/${pid}/root/tmp/hub.db.tls/${f}`)).toBe(true);
    const facts = processFacts(pid);
    expect(facts.uid).toEqual(['65532', '65532', '65532', '65532']);
    expect(facts.gid).toEqual(['65532', '65532', '65532', '65532']);
    expect(facts.caps).toEqual(Array(5).fill('0000000000000000'));
    expect(facts.noNewPrivs).toBe('1');
    expect(facts.rootOptions).toContain('ro');
    expect(hub.out.join('\n')).not.toContain('openssl');
  }, 120_000);

  let agent: Container;
  test('agent with the chart\'s settings (deploy/agent.yaml): registers with the hub, /ready comes up against the sandbox', async () => {
    const docs = parseAllDocuments(readFileSync(join(REPO, 'deploy', 'agent.yaml'), 'utf8')).map((d) => d.toJS() as Loose).filter(Boolean);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const pod = deployment.spec.template.spec;
    const ctr = pod.containers[0];
    const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-config'));
    const namespace = deployment.metadata.namespace as string;
    // The chart's securityContext, translated field by field into the runtime spec.
    const sc = ctr.securityContext;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(sc.runAsNonRoot).toBe(true);
    expect(`${sc.runAsUser}:${sc.runAsGroup}`).toBe(imageConfig.User); // the chart's user is the image's user
    expect(sc.readOnlyRootFilesystem).toBe(true);
    const caps: string[] = sc.capabilities.drop.includes('ALL') ? (sc.capabilities.add ?? []) : ['(chart keeps default capabilities)'];
    // Volumes: emptyDir → tmpfs of its sizeLimit; configMap → its items in a read-only directory; plus the
    // ServiceAccount token projection every pod gets (automountServiceAccountToken).
    const mounts: Loose[] = [];
    const writable: string[] = [];
    for (const vm of ctr.volumeMounts) {
      const v = pod.volumes.find((x: Loose) => x.name === vm.name);
      if (v.emptyDir) {
        mounts.push(tmpfs(vm.mountPath, String(v.emptyDir.sizeLimit ?? '64Mi').replace(/i$/, '').toLowerCase()));
        writable.push(vm.mountPath);
      } else if (v.configMap) {
        const dir = join(work, 'volumes', vm.name);
        mkdirSync(dir, { recursive: true });
        for (const it of v.configMap.items) {
          let text = configMap.data[it.key] as string;
          text = text.replace(': __PIPEOPS_CLUSTER_NAME__\n', ': image-test\n').replace(': __PIPEOPS_API_URL__\n', `: http://127.0.0.1:${HUB_PORT}\n`);
          writeFileSync(join(dir, it.path), text, { mode: 0o644 });
        }
        expect(vm.readOnly).toBe(true);
        mounts.push(bind(vm.mountPath, dir));
      } else {
        throw new Error(`volume ${vm.name}: a kind this test does not emulate`);
      }
    }
    expect(writable).toEqual(['/tmp']); // the one writable path the binary needs
    const sa = join(work, 'volumes', 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), SA_TOKEN);
    writeFileSync(join(sa, 'ca.crt'), sandbox.caPem);
    writeFileSync(join(sa, 'namespace'), namespace);
    mounts.push(bind('/var/run/secrets/kubernetes.io/serviceaccount', sa));
    // Env: literal values; Secret keys (the agent token; the service-account-token Secret Kubernetes fills in);
    // the downward API; and the service variables the kubelet adds.
    const fieldRefs: Record<string, string> = { 'metadata.namespace': namespace, 'metadata.name': 'pipeops-agent-image-test', 'metadata.uid': '00000000-0000-4000-8000-000000000001' };
    const env = ctr.env.map((e: Loose) => {
      if (e.value !== undefined) return `${e.name}=${e.value}`;
      if (e.valueFrom.fieldRef) return `${e.name}=${fieldRefs[e.valueFrom.fieldRef.fieldPath]}`;
      const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === e.valueFrom.secretKeyRef.name);
      if (secret.type === 'kubernetes.io/service-account-token') return `${e.name}=${SA_TOKEN}`;
      expect(secret.stringData[e.valueFrom.secretKeyRef.key]).toBe('__PIPEOPS_TOKEN__');
      return `${e.name}=${AGENT_TOKEN}`;
    });
    env.push('KUBERNETES_SERVICE_HOST=127.0.0.1', `KUBERNETES_SERVICE_PORT=${sandbox.sandboxPort}`);
    const port = pod.containers[0].ports[0].containerPort as number;
    agent = start('agent', {
      uid: sc.runAsUser,
      gid: sc.runAsGroup,
      readonlyRoot: sc.readOnlyRootFilesystem,
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
      caps,
      args: [...(baseSpec.process.args as string[]).slice(0, 1), ...ctr.args], // Kubernetes: args replace the image's CMD
      env,
      mounts,
    });
    // The chart's readiness probe: GET /ready on the container port.
    expect(ctr.readinessProbe.httpGet.path).toBe('/ready');
    await until('agent /ready 200', async () => (await fetchIn(port, '/ready')).status === 200, agent, 90_000);
    expect((await fetchIn(port, ctr.livenessProbe.httpGet.path)).status).toBe(200);
    const clusters = (await (await fetchIn(HUB_PORT, '/api/v1/clusters', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { clusters: { name: string; connected: boolean }[] };
    expect(clusters.clusters.map((c) => [c.name, c.connected])).toEqual([['image-test', true]]);
    const facts = processFacts(containerPid(agent));
    expect(facts.uid).toEqual(Array(4).fill(String(sc.runAsUser)));
    expect(facts.caps).toEqual(Array(5).fill('0000000000000000'));
    expect(facts.rootOptions).toContain('ro');
  }, 180_000);

  test(`SIGTERM stops the agent, then the hub, each within ${STOP_BUDGET_MS / 1000} s with exit 0`, async () => {
    const a = await stop(agent);
    const h = await stop(hub);
    console.log(`image tier: agent stopped in ${a.ms} ms, hub in ${h.ms} ms`);
    expect({ agent: a.code, hub: h.code }).toEqual({ agent: 0, hub: 0 });
    expect(a.ms).toBeLessThan(STOP_BUDGET_MS);
    expect(h.ms).toBeLessThan(STOP_BUDGET_MS);
  }, 60_000);
});
