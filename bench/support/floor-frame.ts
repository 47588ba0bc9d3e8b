// The floor agents' answer (bench/relay-inprocess.ts, bench/support/session-agent.ts): the backend's body as one
// binary frame prefixed with the request id (a 2-byte length, then the id), built with no logic beyond that.
const enc = new TextEncoder();

export function floorFrame(requestId: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const id = enc.encode(requestId);
  const f = new Uint8Array(2 + id.length + body.length);
  f[0] = id.length >> 8;
  f[1] = id.length & 255;
  f.set(id, 2);
  f.set(body, 2 + id.length);
  return f;
}
