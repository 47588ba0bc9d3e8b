// `pipeops-agent demo`: sandbox cluster + hub + agent in one process, ready for kubectl and curl.
import { BUILD_INFO } from './version.ts';

export const DEMO_HELP = `Usage: pipeops-agent demo [--dir D]

Starts a sandbox Kubernetes API server, a hub and an agent on loopback, writes <dir>/kubeconfig (kubectl through
the hub and the tunnel) and <dir>/endpoints.json, prints what to try, and runs until SIGTERM/SIGINT.

Flags:
  --dir <path>   where kubeconfig and endpoints.json are written (default ./.demo)
  --help, --version
`;

export async function runDemoCommand(argv: string[], _io: unknown): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`pipeops-agent demo ${BUILD_INFO.version}\n`);
    return 0;
  }
  process.stderr.write('demo: the sandbox cluster is not available in this build\n');
  return 1;
}
