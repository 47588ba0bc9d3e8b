// HAProxy in front of hub replicas (the HA demo; deploy/haproxy/haproxy.cfg is the documented production form of
// the same shape). TCP passthrough for all three listeners, so agent WebSockets, kubectl's TLS (the replicas share
// the gateway certificate) and upgrades go through unchanged; no stickiness: any replica forwards to the one that
// holds a cluster's session. Health: each replica's /readyz on its agent/admin port.
import { type ChildProcess, spawn } from 'node:child_process';

export interface HubReplicaPorts {
  name: string;
  host: string;
  /** Agent endpoint, admin API, route registry, /readyz. */
  port: number;
  kube_port: number;
  gateway_port: number;
}

export interface HaproxyListeners {
  host: string;
  port: number;
  kube_port: number;
  gateway_port: number;
}

export function haproxyConfig(listen: HaproxyListeners, replicas: readonly HubReplicaPorts[]): string {
  const backend = (name: string, port: (r: HubReplicaPorts) => number, serverOptions = '') => [
    `backend ${name}`,
    '  balance roundrobin',
    // /readyz answers 200 only while the replica serves and its database answers.
    // HTTP/1.1 with a Host: the hub routes an HTTP/1.0 request without one to 404.
    '  option httpchk',
    '  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host hub',
    '  http-check expect status 200',
    ...replicas.map((r) => `  server ${r.name} ${r.host}:${port(r)} check port ${r.port}${serverOptions}`),
    '',
  ];
  return [
    '# Generated for the HA demo (src/demo/haproxy.ts); see deploy/haproxy/haproxy.cfg for the documented form.',
    'global',
    // Well under the usual 20000 open-file limit (HAProxy needs about two descriptors per connection).
    '  maxconn 8000',
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 3s',
    // Watches, log follows and agent sessions are long and may be quiet; the hub and the agent bound them.
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    '  option redispatch',
    '  retries 2',
    // A replica marked down has its connections cut, so agents redial a live one at once.
    '  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions',
    '',
    'frontend agents',
    `  bind ${listen.host}:${listen.port}`,
    '  default_backend hub_agents',
    '',
    'frontend kube',
    `  bind ${listen.host}:${listen.kube_port}`,
    '  default_backend hub_kube',
    '',
    'frontend public',
    `  bind ${listen.host}:${listen.gateway_port}`,
    '  default_backend hub_public',
    '',
    ...backend('hub_agents', (r) => r.port),
    ...backend('hub_kube', (r) => r.kube_port),
    // The public gateway learns each client's address from a PROXY v2 header (gateway_proxy_protocol_from).
    ...backend('hub_public', (r) => r.gateway_port, ' send-proxy-v2'),
  ].join('\n');
}

export interface RunningHaproxy {
  pid: number;
  /** Why it exited (its stderr), once it has; null while it runs. */
  failure(): string | null;
  stop(): Promise<void>;
}

/** Run `haproxy -db -f <config>` (foreground) until stopped; rejects if it exits during the first second's checks. */
export async function startHaproxy(configFile: string, bin = 'haproxy'): Promise<RunningHaproxy> {
  const check = spawn(bin, ['-c', '-q', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let checkOut = '';
  check.stderr.on('data', (c: Buffer) => (checkOut += c.toString()));
  check.stdout.on('data', (c: Buffer) => (checkOut += c.toString()));
  const ok = await new Promise<number>((resolve) => {
    check.on('error', () => resolve(127));
    check.on('close', (code) => resolve(code ?? 1));
  });
  if (ok !== 0) throw new Error(`haproxy refused its configuration ${configFile}: ${checkOut.trim() || `exit ${ok}`}`);
  const p: ChildProcess = spawn(bin, ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let failure: string | null = null;
  p.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) =>
    p.on('close', (code, signal) => {
      failure = `haproxy exited (${signal ?? code}): ${stderr.trim()}`;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    p.once('spawn', resolve);
    p.once('error', reject);
  });
  return {
    pid: p.pid!,
    failure: () => failure,
    async stop() {
      p.kill('SIGTERM');
      await exited;
    },
  };
}
