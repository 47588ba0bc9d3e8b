// The agent's session path driven end to end (issue 14): a hub process (bench/support/session-hub.ts) sends
// `proxy_request` envelopes as our hub builds them over a real WebSocket at c=64; this process runs the agent side
// (bench/support/session-agent.ts: the tree's ControlSession and TunnelDispatcher wired as the tunnel worker wires
// them; --bare: the same relay on a bare WebSocket without the session; --floor: the least an agent does) against
// bench/support/backend.ts, on its main thread or, with --worker, in a Web Worker as the agent does. The hub reads
// this process's CPU from /proc per round: all threads, per thread, and the agent's JS thread's user and system time
// (`bun`, or the worker's thread with --worker). Ours against --bare is what the session path costs; run it under
// `bun --cpu-prof` (without --worker) to see where; compare trees (--tree) by alternating runs.
//
//   bun bench/session-inprocess.ts [--tree DIR] [--floor | --bare] [--worker] [--requests 20000] [--rounds 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineOf } from './support/load.ts';
import { type AgentSpec, startAgent } from './support/session-agent.ts';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i < 0 ? d : argv[i + 1]!;
};
const TREE = opt('tree', join(import.meta.dir, '..'));
const N = opt('requests', '20000');
const ROUNDS = opt('rounds', '3');
const FLOOR = argv.includes('--floor');
const WORKER = argv.includes('--worker');
const BARE = argv.includes('--bare');

const { buildProxyRequest } = await import(join(TREE, 'src/protocol/proxy-request-builders.ts'));
const { encodeMessage } = await import(join(TREE, 'src/protocol/wire-messages.ts'));

const dir = mkdtempSync(join(tmpdir(), 'session-bench-'));
const backend = Bun.spawn([process.execPath, join(import.meta.dir, 'support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
let hub: ReturnType<typeof Bun.spawn> | null = null;
try {
  const backendUrl = JSON.parse(await lineOf(backend, /backend_ready/)).url as string;
  // One envelope as the hub sends it (kubectl's headers after the hub's filter), the request id spliced in per request.
  const rawHeaders = ['Host', 'hub', 'Authorization', 'Bearer x', 'Accept', 'application/json, */*', 'User-Agent', 'kubectl/v1.33.0 (linux/amd64) kubernetes/abc', 'Connection', 'keep-alive', 'Accept-Encoding', 'gzip'];
  const template = encodeMessage({ type: 'proxy_request', payload: buildProxyRequest({ requestId: 'REQUEST-ID', method: 'GET', path: '/bench/small', query: '', rawHeaders, serviceToken: 'bench-sa-token', body: new Uint8Array(0), streaming: false, binaryChunks: true }).payload, requestId: 'REQUEST-ID' });
  writeFileSync(join(dir, 'template'), template);
  hub = Bun.spawn([process.execPath, join(import.meta.dir, 'support/session-hub.ts'), String(process.pid), N, ROUNDS, join(dir, 'template'), WORKER ? 'worker' : 'main'], { stdout: 'pipe', stderr: 'inherit' });
  const hubUrl = JSON.parse(await lineOf(hub, /hub_ready/)).url as string;
  const spec: AgentSpec = { tree: TREE, hubUrl, backendUrl, floor: FLOOR, bare: BARE };
  if (WORKER) new Worker(join(import.meta.dir, 'support/session-agent.ts')).postMessage(spec);
  else await startAgent(spec);
  await hub.exited;
} finally {
  hub?.kill();
  backend.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
