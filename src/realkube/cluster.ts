// A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (RBAC, ServiceAccount tokens, an admin token,
// a Metadata-level audit log, the kubelet client certificate) and kube-controller-manager, as child processes.
// startRealKube() returns once /readyz answers and the `default` ServiceAccount exists; stop() ends them by pid.
// Facts and flags: ../shared/spec/real-kubernetes.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKubeconfig } from '../sandbox/kubeconfig.ts';
import { ensureBinaries, type KubeBinaries } from './binaries.ts';
import { generatePki, type Pki } from './pki.ts';

export interface RealKubeOptions {
  /** Working directory (certificates, etcd data, logs, audit log). Default: a fresh temp dir, removed by stop(). */
  dir?: string;
  /** `--etcd-compaction-interval` of the apiserver (default 5m); short values make `410 Gone` reachable. */
  compactionInterval?: string;
  /** Extra apiserver flags (e.g. `--watch-cache-sizes=…`). */
  apiserverFlags?: string[];
  /** Start kube-controller-manager (default true). */
  controllerManager?: boolean;
  binaries?: KubeBinaries;
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void;
}

/** One audit event as written by the log backend (JSON lines), the fields tests read. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number; message?: string; reason?: string };
  annotations?: Record<string, string>;
  stageTimestamp?: string;
}

export interface RealKube {
  url: string;
  port: number;
  caPem: string;
  /** Bearer token of `admin` (group system:masters). */
  adminToken: string;
  /** etcd's client URL (plain HTTP on loopback): tests compact it through its v3 JSON gateway. */
  etcdUrl: string;
  dir: string;
  pki: Pki;
  auditLogPath: string;
  kubeconfig(opts?: { token?: string; namespace?: string }): string;
  writeKubeconfig(path: string, opts?: { token?: string; namespace?: string }): void;
  /** Admin request to the apiserver (JSON body when given). */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Every audit event written so far (ResponseComplete and Panic stages). */
  audit(): AuditEvent[];
  pids(): { etcd: number; apiserver: number; controllerManager?: number };
  /** Stops the apiserver (SIGTERM, then SIGKILL) and starts it again with the same flags; resolves when ready. */
  restartApiserver(opts?: { beforeStart?: () => Promise<void> | void }): Promise<void>;
  /** Stops the apiserver only (tests of the time it is gone). */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  stop(): Promise<void>;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Every child started here, so an exiting test process never leaves one behind. */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

interface Managed {
  name: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
}

function startProcess(name: string, bin: string, args: string[], logPath: string): Managed {
  installExitHook();
  const fd = openSync(logPath, 'a', 0o600);
  const proc = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(proc);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      resolve(code ?? (signal ? -1 : null));
    });
    proc.once('error', () => {
      children.delete(proc);
      resolve(-1);
    });
  });
  return { name, proc, exited };
}

async function stopProcess(m: Managed | undefined, graceMs = 10_000): Promise<void> {
  if (!m || m.proc.exitCode !== null || m.proc.signalCode !== null) return;
  m.proc.kill('SIGTERM');
  const killed = await Promise.race([m.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
  if (killed) {
    m.proc.kill('SIGKILL');
    await m.exited;
  }
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `probe` until it is true, failing early when `proc` exits (its log tail is in the error). */
async function until(what: string, probe: () => Promise<boolean>, m: Managed, logPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void m.exited.then(() => (dead = true));
  for (;;) {
    if (dead) throw new Error(`${m.name} exited while waiting for ${what}:\n${tail(logPath)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${m.name} log:\n${tail(logPath)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startRealKube(opts: RealKubeOptions = {}): Promise<RealKube> {
  const log = opts.log ?? (() => {});
  const bins = opts.binaries ?? (await ensureBinaries());
  const ownDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pipeops-realkube-'));
  const t0 = Date.now();
  const pki = await generatePki(join(dir, 'pki'));
  const adminToken = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  const auditLogPath = join(dir, 'audit.log');
  const [etcdPort, peerPort, port] = await Promise.all([freePort(), freePort(), freePort()]);
  const url = `https://127.0.0.1:${port}`;
  log(`certificates ready in ${dir} (${Date.now() - t0} ms)`);

  const etcdLog = join(dir, 'etcd.log');
  const etcd = startProcess('etcd', bins.etcd, [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ], etcdLog);
  const caPem = pki.caPem;
  const tlsFetch = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, tls: { ca: caPem } } as RequestInit);
  try {
    await until('etcd health', async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, etcd, etcdLog, 30_000);
  } catch (e) {
    await stopProcess(etcd);
    throw e;
  }
  log(`etcd healthy on 127.0.0.1:${etcdPort} (${Date.now() - t0} ms)`);

  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=RBAC',
    `--token-auth-file=${tokenFile}`,
    '--endpoint-reconciler-type=none',
    `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
    `--audit-log-path=${auditLogPath}`,
    '--audit-log-mode=blocking',
    `--kubelet-client-certificate=${pki.kubeletClientCert}`,
    `--kubelet-client-key=${pki.kubeletClientKey}`,
    `--kubelet-certificate-authority=${pki.caCert}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--etcd-compaction-interval=${opts.compactionInterval ?? '5m'}`,
    '--allow-privileged=true',
    '--profiling=false',
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    ...(opts.apiserverFlags ?? []),
  ];
  const apiserverLog = join(dir, 'kube-apiserver.log');
  let apiserver: Managed | undefined;
  const startApiserver = async () => {
    const started = Date.now();
    apiserver = startProcess('kube-apiserver', bins.apiserver, apiserverArgs, apiserverLog);
    await until(
      '/readyz',
      async () => (await tlsFetch('/readyz', { headers: { authorization: `Bearer ${adminToken}` } })).status === 200,
      apiserver,
      apiserverLog,
      90_000,
    );
    log(`kube-apiserver ready at ${url} (${Date.now() - started} ms)`);
  };

  let cm: Managed | undefined;
  const stop = async () => {
    await stopProcess(cm);
    await stopProcess(apiserver);
    await stopProcess(etcd);
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  const kubeconfig = (o: { token?: string; namespace?: string } = {}) => renderKubeconfig(url, caPem, { token: o.token ?? adminToken, ...(o.namespace ? { namespace: o.namespace } : {}) });
  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    tlsFetch(path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });

  try {
    await startApiserver();
    if (opts.controllerManager !== false) {
      const adminKubeconfig = join(dir, 'admin.kubeconfig');
      writeFileSync(adminKubeconfig, kubeconfig(), { mode: 0o600 });
      const cmLog = join(dir, 'kube-controller-manager.log');
      const started = Date.now();
      cm = startProcess('kube-controller-manager', bins.controllerManager, [
        `--kubeconfig=${adminKubeconfig}`,
        '--use-service-account-credentials=false',
        '--controllers=*,-node-lifecycle-controller,-node-ipam-controller',
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
      ], cmLog);
      // Pods are refused until the ServiceAccount controller has made `default` in their namespace.
      await until('the default ServiceAccount', async () => (await request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200, cm, cmLog, 60_000);
      log(`kube-controller-manager running (default ServiceAccount after ${Date.now() - started} ms)`);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    url,
    port,
    caPem,
    adminToken,
    etcdUrl: `http://127.0.0.1:${etcdPort}`,
    dir,
    pki,
    auditLogPath,
    kubeconfig,
    writeKubeconfig: (path, o) => writeFileSync(path, kubeconfig(o), { mode: 0o600 }),
    request,
    audit: () => {
      let text = '';
      try {
        text = readFileSync(auditLogPath, 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as AuditEvent);
    },
    pids: () => ({
      etcd: etcd.proc.pid ?? 0,
      apiserver: apiserver?.proc.pid ?? 0,
      ...(cm ? { controllerManager: cm.proc.pid ?? 0 } : {}),
    }),
    stopApiserver: () => stopProcess(apiserver),
    startApiserver,
    restartApiserver: async (o = {}) => {
      await stopProcess(apiserver);
      await o.beforeStart?.();
      await startApiserver();
    },
    stop,
  };
}
