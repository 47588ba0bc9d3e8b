// `pipeops-agent sandbox`: the demo's in-process Kubernetes API server on its own, for running an agent by hand
// (README "Running"). HTTPS with a generated CA, one random bearer token, the demo objects; it writes a
// kubeconfig (mode 0600, the token inside) and prints its path, then runs until SIGTERM/SIGINT.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { onTerminate } from './cli-signals.ts';
import { startSandbox } from './sandbox/index.ts';
import { BUILD_INFO } from './version.ts';

export const SANDBOX_HELP = `Usage: pipeops-agent sandbox [--kubeconfig FILE] [--port N]

Serves a sandbox Kubernetes API server (the demo's cluster: HTTPS on 127.0.0.1, its own CA, the demo
namespaces and pods) and writes a kubeconfig for it, so an agent run by hand has a cluster:
  pipeops-agent agent --kubeconfig FILE ...
Prints {"event":"sandbox_ready","url":...,"kubeconfig":...} and runs until SIGTERM/SIGINT.

Flags:
  --kubeconfig <path>  where the kubeconfig is written (default ./sandbox.kubeconfig, mode 0600)
  --port <n>           listen port on 127.0.0.1 (default 0: ephemeral)
  --help, --version
`;

export async function runSandboxCommand(argv: string[], io: { cwd: string }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SANDBOX_HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`pipeops-agent sandbox ${BUILD_INFO.version}\n`);
    return 0;
  }
  let kubeconfig = resolve(io.cwd, 'sandbox.kubeconfig');
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--kubeconfig') kubeconfig = resolve(io.cwd, value());
    else if (flag === '--port') {
      const v = value();
      port = Number(v);
      if (!/^\d+$/.test(v) || port > 65535) {
        process.stderr.write(`sandbox: --port must be a port number (0-65535), got "${v}"\n`);
        return 2;
      }
    } else {
      process.stderr.write(`sandbox: unknown argument ${a}\n\n${SANDBOX_HELP}`);
      return 2;
    }
  }
  let stop: (() => Promise<void>) | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    finish = r;
  });
  onTerminate(async () => {
    await stop?.();
    finish(0);
  });
  try {
    const token = `sandbox-${randomBytes(18).toString('base64url')}`;
    const sandbox = await startSandbox({ host: '127.0.0.1', port, tls: 'generate', tokens: { [token]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
    stop = () => sandbox.close();
    await sandbox.writeKubeconfig(kubeconfig, { token });
    process.stdout.write(`${JSON.stringify({ event: 'sandbox_ready', url: sandbox.url, kubeconfig })}\n`);
  } catch (e) {
    process.stderr.write(`sandbox failed to start: ${(e as Error).message}\n`);
    return 1;
  }
  return done;
}
