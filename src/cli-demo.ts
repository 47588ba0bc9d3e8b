// `pipeops-agent demo`: sandbox cluster + hub + agent in one process, ready for kubectl and curl.
import { onTerminate } from './cli-signals.ts';
import { demoInstructions, startDemo } from './demo/demo.ts';
import { BUILD_INFO } from './version.ts';

export const DEMO_HELP = `Usage: pipeops-agent demo [--dir D]

Starts a sandbox Kubernetes API server, a hub and an agent on loopback, writes <dir>/kubeconfig (kubectl through
the hub and the tunnel) and <dir>/endpoints.json, prints what to try, and runs until SIGTERM/SIGINT.

Flags:
  --dir <path>   where kubeconfig, endpoints.json and demo.log are written (default ./.demo)
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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--dir') dir = argv[++i] ?? dir;
    else if (a.startsWith('--dir=')) dir = a.slice(6);
    else {
      process.stderr.write(`demo: unknown argument ${a}\n\n${DEMO_HELP}`);
      return 2;
    }
  }
  // Signal handling first: a SIGTERM that arrives while starting (or right after "ready") must not kill us
  // with the default action.
  let demo: Awaited<ReturnType<typeof startDemo>> | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  onTerminate(async () => {
    await demo?.stop();
    finish(0);
  });
  try {
    demo = await startDemo({ dir });
  } catch (e) {
    process.stderr.write(`demo failed to start: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(demoInstructions(demo.endpoints, dir));
  process.stdout.write(`${JSON.stringify({ event: 'demo_ready', ...demo.endpoints })}\n`);
  return done;
}
