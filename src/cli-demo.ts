// `pipeops-agent demo`: sandbox cluster + hub + agent in one process, ready for kubectl and curl.
import { onTerminate } from './cli-signals.ts';
import { demoInstructions, startDemo } from './demo/demo.ts';
import { startRealDemo } from './demo/demo-real.ts';
import { haDemoInstructions, startHaDemo } from './devstack/demo-ha.ts';
import { BUILD_INFO } from './version.ts';

export const DEMO_HELP = `Usage: pipeops-agent demo [--dir D] [--real | --ha]

Starts a sandbox Kubernetes API server, a hub and an agent on loopback, writes <dir>/kubeconfig (kubectl through
the hub and the tunnel) and <dir>/endpoints.json, prints what to try, and runs until SIGTERM/SIGINT.

Flags:
  --dir <path>   where kubeconfig, endpoints.json and demo.log are written (default ./.demo)
  --real         real API servers instead of the sandbox: etcd, kube-apiserver and kube-controller-manager
                 with a stand-in kubelet per cluster (built from the Go module proxy on first use, ~11 min;
                 then ~10 s to start and ~450 MB of memory per cluster)
  --ha           hub replicas: PostgreSQL (a private server), two hub processes behind HAProxy, two agent
                 processes with leader election (one leads, one stands by); endpoints.json lists hub_replicas
                 and agent_replicas with their pids (needs the postgresql and haproxy packages)
  --help, --version
`;

export async function runDemoCommand(argv: string[], io: { cwd: string }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`pipeops-agent demo ${BUILD_INFO.version}\n`);
    return 0;
  }
  let dir = `${io.cwd}/.demo`;
  let real = false;
  let ha = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--real') real = true;
    else if (a === '--ha') ha = true;
    else if (a === '--dir') dir = argv[++i] ?? dir;
    else if (a.startsWith('--dir=')) dir = a.slice(6);
    else {
      process.stderr.write(`demo: unknown argument ${a}\n\n${DEMO_HELP}`);
      return 2;
    }
  }
  // Signal handling first: a SIGTERM that arrives while starting (or right after "ready") must not kill us
  // with the default action.
  let demo: { stop(): Promise<void> } | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  onTerminate(async () => {
    await demo?.stop();
    finish(0);
  });
  if (real && ha) {
    process.stderr.write('demo: --real and --ha cannot be combined\n');
    return 2;
  }
  if (ha) {
    try {
      const started = await startHaDemo({ dir });
      demo = started;
      process.stdout.write(haDemoInstructions(started.endpoints, dir));
      process.stdout.write(`${JSON.stringify({ event: 'demo_ready', ha: true, ...started.endpoints })}\n`);
    } catch (e) {
      process.stderr.write(`demo failed to start: ${(e as Error).message}\n`);
      return 1;
    }
    return done;
  }
  let endpoints: Awaited<ReturnType<typeof startDemo>>['endpoints'];
  try {
    const started = real ? await startRealDemo({ dir, progress: (l) => process.stderr.write(`[demo --real] ${l}\n`) }) : await startDemo({ dir });
    demo = started;
    endpoints = started.endpoints;
  } catch (e) {
    process.stderr.write(`demo failed to start: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(demoInstructions(endpoints, dir));
  process.stdout.write(`${JSON.stringify({ event: 'demo_ready', real, ...endpoints })}\n`);
  return done;
}
