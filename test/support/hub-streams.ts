// Streams through the hub: a stack (sandbox ← agent → hub) whose Kubernetes gateway carries kubectl's upgrades,
// isolated kubectl environments pointing at the gateway, a minimal WebSocket v5 exec client that speaks the
// channel protocol to the gateway directly (and can stop reading its socket), and an agent metrics reader.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { encodeFrame, OPCODE } from '../../src/protocol/websocket-frame.ts';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import { USER_TOKEN, type DeepPartial } from './hub-agent.ts';
import { SA_TOKEN, type Stack, startStack } from './stack.ts';
import { waitFor } from './wait.ts';

/** A stack whose agent registered SA_TOKEN as the cluster's ServiceAccount token (the gateway sends it upstream). */
export async function startHubStreamStack(agent: DeepPartial<AgentConfigInput> = {}): Promise<Stack> {
  const s = await startStack({ agent: { ...agent, kubernetes: { ...(agent.kubernetes ?? {}), service_token: SA_TOKEN } } as DeepPartial<AgentConfigInput> });
  await waitFor(async () => (await s.hub.store.get(s.clusterId))?.k8s_service_token === SA_TOKEN, { what: 'SA token registered' });
  return s;
}

/** KUBECONFIG (gateway URL, hub CA, user token), KUBECACHEDIR and HOME of their own for one kubectl run. */
export async function hubKubectlEnv(s: Stack, namespace = 'default'): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hub-streams-kubectl-'));
  await writeFile(join(dir, 'kubeconfig'), await kubeconfigFor(s.hub, s.clusterId, USER_TOKEN, { namespace }), { mode: 0o600 });
  return {
    env: { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Counter/gauge value of the first `/metrics` line of the agent matching `re` (0 when absent). */
export async function agentMetric(s: Stack, re: RegExp): Promise<number> {
  const text = await (await fetch(`${s.agent.url}/metrics`)).text();
  const line = text.split('\n').find((l) => re.test(l));
  return line ? Number(line.split(' ').pop()) : 0;
}

export async function agentMetricsText(s: Stack): Promise<string> {
  return (await fetch(`${s.agent.url}/metrics`)).text();
}

/**
 * A WebSocket client for the gateway's upgrade path, on a raw TLS socket so a test can stop reading it (pause:
 * the kernel buffers fill and the gateway's writes back up, as with a frozen terminal).
 */
export class RawWsClient {
  readonly protocol: string;
  /** Messages received (opcode + reassembled payload), in order. */
  readonly messages: { opcode: number; data: Buffer }[] = [];
  closeCode: number | null = null;
  closed: Promise<void>;
  readonly #sock: TLSSocket;
  #buf: Buffer;
  #frag: Buffer[] = [];
  #fragOpcode = 0;
  #waiters = new Set<() => void>();
  #onClosed!: () => void;

  private constructor(sock: TLSSocket, protocol: string, rest: Buffer) {
    this.#sock = sock;
    this.protocol = protocol;
    this.#buf = rest;
    this.closed = new Promise((r) => (this.#onClosed = r));
    sock.on('data', (c: Buffer) => this.#feed(c));
    sock.on('close', () => {
      this.#onClosed();
      this.#notify();
    });
    sock.on('error', () => {});
    this.#feed(Buffer.alloc(0));
  }

  static async open(s: Stack, path: string, protocols: string[]): Promise<RawWsClient> {
    const u = new URL(s.hub.kubeUrl);
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca: s.hub.kubeCaPem, servername: /^[\d.]+$/.test(u.hostname) ? undefined : u.hostname });
    sock.setNoDelay(true);
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');
    const head = [
      `GET /clusters/${s.clusterId}/k8s${path} HTTP/1.1`,
      `Host: ${u.host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Key: ${key}`,
      ...(protocols.length ? [`Sec-WebSocket-Protocol: ${protocols.join(', ')}`] : []),
      `Authorization: Bearer ${USER_TOKEN}`,
      '',
      '',
    ].join('\r\n');
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        sock.off('data', onData);
        sock.off('error', reject);
        const headText = buf.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(headText)) {
          sock.destroy();
          reject(new Error(`upgrade refused: ${headText.split('\r\n')[0]} ${buf.subarray(end + 4).toString().slice(0, 300)}`));
          return;
        }
        const proto = /\r\nsec-websocket-protocol: *([^\r]+)/i.exec(headText)?.[1] ?? '';
        resolve(new RawWsClient(sock, proto, buf.subarray(end + 4)));
      };
      sock.on('data', onData);
      sock.on('error', reject);
      sock.once('secureConnect', () => sock.write(head));
    });
  }

  /** Sends one masked client frame. Returns false when the socket's write buffer is above its high-water mark. */
  send(opcode: number, payload: Uint8Array): boolean {
    return this.#sock.write(encodeFrame(opcode, payload, { mask: crypto.getRandomValues(new Uint8Array(4)) }));
  }

  /** Exec stdin (v4/v5 channel 0). */
  stdin(data: Uint8Array): boolean {
    const b = Buffer.allocUnsafe(data.length + 1);
    b[0] = 0;
    b.set(data, 1);
    return this.send(OPCODE.binary, b);
  }

  close(code = 1000, reason = ''): void {
    const p = Buffer.alloc(2 + Buffer.byteLength(reason));
    p.writeUInt16BE(code, 0);
    p.write(reason, 2);
    this.send(OPCODE.close, p);
  }

  destroy(): void {
    this.#sock.destroy();
  }

  /** Stop reading: the socket's receive buffer fills and the peer's writes back up. */
  pause(): void {
    this.#sock.pause();
  }

  resume(): void {
    this.#sock.resume();
  }

  get bytesRead(): number {
    return this.#sock.bytesRead;
  }

  /** Concatenated payload (channel byte removed) of binary messages on `channel`. */
  channel(ch: number): Buffer {
    return Buffer.concat(this.messages.filter((m) => m.opcode === OPCODE.binary && m.data[0] === ch).map((m) => m.data.subarray(1)));
  }

  /** Resolves when `pred` holds (re-checked on every received message and on close). */
  until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!pred()) return;
        clearTimeout(t);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  #feed(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let got = false;
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) break;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) break;
      const payload = b.subarray(off, off + len);
      this.#buf = b.subarray(off + len);
      got = true;
      if (opcode === OPCODE.close) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.messages.push({ opcode, data: Buffer.from(payload) });
        continue;
      }
      if (opcode === OPCODE.ping) {
        this.send(OPCODE.pong, payload);
        continue;
      }
      if (opcode === OPCODE.pong) continue;
      if (opcode !== OPCODE.continuation) this.#fragOpcode = opcode;
      this.#frag.push(Buffer.from(payload));
      if (fin) {
        this.messages.push({ opcode: this.#fragOpcode, data: Buffer.concat(this.#frag) });
        this.#frag = [];
      }
    }
    if (got) this.#notify();
  }
}
