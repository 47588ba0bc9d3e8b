// Spawns kubectl asynchronously (spawnSync would deadlock: the API server shares this event loop) and
// collects its output; plus the local helpers the kubectl tests need (echo server, port-forward readiness).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

export const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
export const VERSIONS = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'];

export function kubectlPath(version: string): string | null {
  const p = `${KUBECTL_DIR}/kubectl.${version}`;
  return existsSync(p) ? p : null;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export async function runKubectl(
  bin: string,
  args: string[],
  env: Record<string, string>,
  stdin?: Uint8Array,
  timeoutMs = 20_000,
): Promise<RunResult> {
  const proc = Bun.spawn([bin, ...args], {
    env: { ...process.env, ...env },
    stdin: stdin ? 'pipe' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  if (stdin && proc.stdin) {
    proc.stdin.write(stdin);
    await proc.stdin.end();
  }
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout: Buffer.from(stdout), stderr };
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function randomPayload(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** A loopback TCP echo server: the "application" behind port-forward in the round-trip tests. */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/** Sends `payload` on a fresh connection, half-closes, and returns everything read back until the peer ends. */
export function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: '127.0.0.1', port }, () => {
      sock.end(payload);
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
  });
}

/**
 * Starts `kubectl port-forward` with a random local port and resolves once it prints "Forwarding from"
 * (the event that says the listener is up).
 */
export async function startPortForward(
  bin: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ localPort: number; stop(): Promise<RunResult>; exited(): Promise<RunResult> }> {
  const proc = Bun.spawn([bin, 'port-forward', ...args], {
    env: { ...process.env, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const stderrText = new Response(proc.stderr).text();
  const reader = proc.stdout.getReader();
  let seen = '';
  const decoder = new TextDecoder();
  const deadline = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(deadline);
      throw new Error(`port-forward exited before listening: ${seen} ${await stderrText}`);
    }
    seen += decoder.decode(value);
    const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(seen);
    if (m) {
      const rest = (async () => {
        let tail = '';
        for (;;) {
          const r = await reader.read();
          if (r.done) return tail;
          tail += decoder.decode(r.value);
        }
      })();
      const exited = async (): Promise<RunResult> => {
        const code = await proc.exited;
        clearTimeout(deadline);
        return { code, stdout: Buffer.from(seen + (await rest)), stderr: await stderrText };
      };
      return {
        localPort: Number(m[1]),
        stop() {
          proc.kill('SIGTERM');
          return exited();
        },
        /** Waits for kubectl to exit on its own (e.g. after "lost connection to pod"). */
        exited,
      };
    }
  }
}

/**
 * `kubectl port-forward <args>`, one connection per payload size in parallel, each echoed back (startEchoServer
 * behind the forwarded port): null when every payload came back intact, else what differed.
 */
export async function portForwardEchoes(bin: string, args: string[], env: Record<string, string>, sizes: number[]): Promise<string | null> {
  const pf = await startPortForward(bin, args, env);
  try {
    const payloads = sizes.map((n) => randomPayload(n));
    const echoed = await Promise.all(payloads.map((p) => roundTrip(pf.localPort, p)));
    const bad = echoed.findIndex((e, i) => sha256(e) !== sha256(payloads[i] as Buffer));
    return bad < 0 ? null : `connection ${bad}: ${echoed[bad]?.length} of ${payloads[bad]?.length} bytes back, sha256 differs`;
  } finally {
    await pf.stop();
  }
}

/**
 * `kubectl exec -it <pod> -- sh` under a pty (pty-driver.py): two window sizes must reach the shell (stty size),
 * then `exit 3` must be kubectl's exit code. Null when all held, else what differed.
 */
export async function ptyExecResize(bin: string, pod: string, env: Record<string, string>, deadlineSeconds?: number): Promise<string | null> {
  const driver = new URL('./pty-driver.py', import.meta.url).pathname;
  const proc = Bun.spawn(['python3', driver, bin, 'exec', '-it', pod, '--', 'sh'], {
    env: { ...process.env, ...env, ...(deadlineSeconds ? { PTY_DEADLINE: String(deadlineSeconds) } : {}) },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  let obs: { sizes: number[][]; exit: number; error: string | null; transcript: string };
  try {
    obs = JSON.parse(out);
  } catch {
    return `pty driver output not JSON: ${out.slice(-300)} ${err.slice(-300)}`;
  }
  if (obs.error) return `${obs.error} transcript ${JSON.stringify(obs.transcript.slice(-200))}`;
  if (JSON.stringify(obs.sizes) !== '[[30,100],[40,120]]') return `stty sizes ${JSON.stringify(obs.sizes)}`;
  return obs.exit === 3 ? null : `kubectl exit ${obs.exit}, expected 3`;
}
