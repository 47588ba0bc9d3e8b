// Runs real kubectl binaries (always asynchronously: the sandbox shares this event loop) with an isolated
// KUBECONFIG, cache and HOME, and waits on their output instead of sleeping.
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface KubectlBinary {
  version: string;
  /** Undefined when this machine lacks the binary; the test then skips with a message. */
  path?: string;
}

/** kubectl.1.27 … kubectl.1.33, which sit beside the real kubectl (`readlink -f $(which kubectl)`). */
export function kubectlBinaries(): KubectlBinary[] {
  const onPath = Bun.which('kubectl');
  const dir = onPath ? dirname(realpathSync(onPath)) : undefined;
  const out: KubectlBinary[] = [];
  for (let minor = 27; minor <= 33; minor++) {
    const path = dir ? join(dir, `kubectl.1.${minor}`) : undefined;
    out.push({ version: `1.${minor}`, ...(path && existsSync(path) ? { path } : {}) });
  }
  return out;
}

export interface KubectlEnv {
  dir: string;
  env: Record<string, string>;
}

export async function kubectlEnv(kubeconfig: string): Promise<KubectlEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-kubectl-'));
  const path = join(dir, 'kubeconfig');
  await writeFile(path, kubeconfig, { mode: 0o600 });
  return {
    dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: path, KUBECACHEDIR: join(dir, 'cache'), HOME: dir },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function kubectl(bin: string, env: KubectlEnv, args: string[]): Promise<KubectlResult> {
  const p = Bun.spawn([bin, ...args], { env: env.env, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** A long-running kubectl (`get -w`, `logs -f`) whose combined output can be awaited. */
export class LiveKubectl {
  output = '';
  readonly exited: Promise<number>;
  readonly #proc: ReturnType<typeof Bun.spawn>;
  readonly #waiters = new Set<() => void>();

  constructor(bin: string, env: KubectlEnv, args: string[]) {
    this.#proc = Bun.spawn([bin, ...args], { env: env.env, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        this.output += dec.decode(chunk, { stream: true });
        for (const w of [...this.#waiters]) w();
      }
    };
    const done = Promise.all([pump(this.#proc.stdout as ReadableStream<Uint8Array>), pump(this.#proc.stderr as ReadableStream<Uint8Array>)]);
    this.exited = done.then(() => this.#proc.exited);
  }

  /** Resolves when the output matches; rejects with the output so far if it does not within `timeoutMs`. */
  waitFor(pattern: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const hit = () => (typeof pattern === 'string' ? this.output.includes(pattern) : pattern.test(this.output));
    if (hit()) return Promise.resolve(this.output);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!hit()) return;
        cleanup();
        resolve(this.output);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${String(pattern)}; kubectl output so far:\n${this.output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  kill(): void {
    this.#proc.kill();
  }
}

export async function tlsFixture(): Promise<{ cert: string; key: string; ca: string }> {
  const f = (n: string) => Bun.file(new URL(`../fixtures/tls/${n}`, import.meta.url)).text();
  const [cert, key, ca] = await Promise.all([f('server.crt'), f('server.key'), f('ca.crt')]);
  return { cert, key, ca };
}
