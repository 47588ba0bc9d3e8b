import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateError } from '../../src/state/agent-state.ts';
import { FileStateStore, locateStateFile, parseStateFile } from '../../src/state/file-store.ts';
import { openStateStore } from '../../src/state/index.ts';
import { bigState } from './support/big-state.ts';

let dir: string;

/** Busy-waits `ms`: a random instant to stop or kill the child at (randomness, not synchronisation). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** Returns once the kernel reports `pid` stopped (state T in /proc/<pid>/stat), so the file is looked at mid-flight. */
function waitStopped(pid: number): void {
  const deadline = performance.now() + 2000;
  while (performance.now() < deadline) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't') return;
  }
  throw new Error(`child ${pid} did not stop`);
}

/** Yields once per "saved N" line the child prints. */
async function* savedLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('saved ')) yield line;
      nl = buf.indexOf('\n');
    }
  }
  throw new Error('the saving child exited before it was killed');
}
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'state-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sample = {
  agent_id: 'agent-0123456789abcdef',
  cluster_id: 'c-1',
  cluster_uuid: 'u-1',
  gateway_ws_url: 'wss://gw.example/ws',
  cluster_token: 'eyJhbGciOiJSUzI1NiJ9.secret-token-value',
  cluster_cert_data: Buffer.from('-----BEGIN CERTIFICATE-----\nx\n').toString('base64'),
};

describe('FileStateStore', () => {
  test('round trip; a missing file loads as empty', async () => {
    const s = new FileStateStore(join(dir, 'rt', 'agent-state.yaml'));
    expect(await s.load()).toEqual({ agent_id: '', cluster_id: '', cluster_uuid: '', gateway_ws_url: '', cluster_token: '', cluster_cert_data: '' });
    await s.save(sample);
    expect(await s.load()).toEqual(sample);
    await s.save({ ...sample, cluster_id: '' });
    expect((await s.load()).cluster_id).toBe('');
    expect(s.describe()).not.toContain(sample.cluster_token);
  });

  test('file mode is 0600 and a created directory 0700, even over a 0644 file', async () => {
    const p = join(dir, 'mode', 'sub', 'agent-state.yaml');
    await new FileStateStore(p).save(sample);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'mode', 'sub')).mode & 0o777).toBe(0o700);
    chmodSync(p, 0o644);
    await new FileStateStore(p).save(sample);
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });

  test('a corrupt file is an error naming the file and the line, never a reset', async () => {
    const p = join(dir, 'corrupt.yaml');
    writeFileSync(p, 'agent_id: a\ncluster_id: b\n\tbad: [unclosed\n');
    const e = (await new FileStateStore(p).load().catch((x) => x)) as StateError;
    expect(e).toBeInstanceOf(StateError);
    expect(e.message).toContain(`state file ${p} is not valid YAML (line 3)`);
    expect(e.message).toContain('fix or remove it');
    expect(readFileSync(p, 'utf8')).toContain('[unclosed'); // untouched
  });

  test('a well-formed file of the wrong shape is an error too', () => {
    expect(() => parseStateFile('agent_id: [1, 2]\n', '/x/agent-state.yaml')).toThrow(/state file \/x\/agent-state.yaml is not a valid agent state \(agent_id/);
    expect(parseStateFile('', '/x')).toEqual({ agent_id: '', cluster_id: '', cluster_uuid: '', gateway_ws_url: '', cluster_token: '', cluster_cert_data: '' });
  });

  test('search order: first existing file, else first writable directory', () => {
    const a = join(dir, 'so', 'a', 'agent-state.yaml');
    const b = join(dir, 'so', 'b', 'agent-state.yaml');
    const c = join(dir, 'so', 'c', 'agent-state.yaml');
    mkdirSync(join(dir, 'so', 'b'), { recursive: true });
    mkdirSync(join(dir, 'so', 'c'), { recursive: true });
    writeFileSync(c, 'agent_id: x\n');
    expect(locateStateFile(undefined, [a, b, c])).toBe(c);
    rmSync(c);
    // /proc is never writable: the next candidate is chosen.
    expect(locateStateFile(undefined, ['/proc/pipeops-x/agent-state.yaml', b, c])).toBe(b);
    expect(locateStateFile(join(dir, 'explicit.yaml'), [a])).toBe(join(dir, 'explicit.yaml'));
    expect(() => locateStateFile(undefined, ['/proc/pipeops-x/agent-state.yaml'])).toThrow(/no writable location/);
    const st = openStateStore({ inCluster: false, searchPaths: [a, b] });
    expect(st.describe()).toBe(`file ${a}`);
  });

  test('crash during save: after SIGKILL at random moments the file is always one complete state', async () => {
    const p = join(dir, 'crash', 'agent-state.yaml');
    const script = join(import.meta.dir, 'support', 'save-loop.ts');
    const iterations = 24;
    const probesPerRun = 10;
    const check = (text: string, base: number) => {
      const st = parseStateFile(text, p);
      const n = Number(st.agent_id.replace('agent-', ''));
      expect(n).toBeGreaterThan(0);
      expect(st).toEqual(bigState(n)); // exactly one complete state, never a mix or a prefix
      return n > base;
    };
    let killed = 0;
    for (let it = 0; it < iterations; it++) {
      const base = (it + 1) * 1_000_000;
      const child = Bun.spawn([process.execPath, script, p, String(base)], { stdout: 'pipe', stderr: 'inherit' });
      try {
        const lines = savedLines(child.stdout);
        await lines.next(); // the child is up and saving
        // Freeze the child at arbitrary instants (SIGSTOP) and look at the file as a crash there would leave it:
        // cheap extra samples of the moment of death (a plain truncate-and-write fails these within a few runs).
        for (let k = 0; k < probesPerRun; k++) {
          spin(Math.random() * 2);
          child.kill('SIGSTOP');
          waitStopped(child.pid);
          check(readFileSync(p, 'utf8'), 0);
          child.kill('SIGCONT');
        }
        await lines.next(); // still saving after the probes
        spin(Math.random() * 2);
        child.kill('SIGKILL');
        if ((await child.exited) !== 0) killed++;
      } finally {
        child.kill('SIGKILL');
      }
      // After the real crash: one complete state, from this run (at least one of its saves completed).
      expect(check(readFileSync(p, 'utf8'), base)).toBe(true);
      expect(statSync(p).mode & 0o777).toBe(0o600);
    }
    expect(killed).toBe(iterations);
    // load() removes the temp files that killed saves left behind, and still reads the state
    expect((await new FileStateStore(p).load()).agent_id).toStartWith('agent-');
    expect(readdirSync(join(dir, 'crash')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);
});
