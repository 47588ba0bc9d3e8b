// The least an agent can do (bench/relay-floor.ts): one WebSocket (TLS) to the floor hub, each request message
// becomes one fetch to the backend, the answer goes back whole (≤ 1 MiB) or in chunks as they are read. No
// validation, no headers, no flow control, no worker thread. A floor for per-request and per-MiB cost, not an agent.
//   bun bench/support/floor-agent.ts WS_URL BACKEND_URL CA_FILE
import { readFileSync } from 'node:fs';
const [wsUrl, backend, caFile] = process.argv.slice(2) as [string, string, string];
const ws = new WebSocket(wsUrl, { tls: { ca: readFileSync(caFile, 'utf8') }, perMessageDeflate: false } as unknown as string[]);
ws.binaryType = 'arraybuffer';
const frame = (id: number, kind: number, body: Uint8Array) => {
  const f = new Uint8Array(5 + body.byteLength);
  new DataView(f.buffer).setUint32(0, id, true);
  f[4] = kind;
  f.set(body, 5);
  return f;
};
ws.onopen = () => console.log(JSON.stringify({ event: 'floor_agent_ready' }));
ws.onmessage = async (e) => {
  const { id, path } = JSON.parse(e.data as string) as { id: number; path: string };
  const r = await fetch(backend + path);
  const len = Number(r.headers.get('content-length') ?? -1);
  if (len >= 0 && len <= 1 << 20) {
    ws.send(frame(id, 0, new Uint8Array(await r.arrayBuffer())));
    return;
  }
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) ws.send(frame(id, 1, chunk));
  ws.send(frame(id, 2, new Uint8Array(0)));
};
ws.onclose = () => process.exit(0);
