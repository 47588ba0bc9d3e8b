// WebSocket masking for the floor relay's own WebSocket code (bench/support/floor-agent.ts, floor-hub.ts).

/** XOR `d` in place with the 4-byte masking key `k`, `pos` bytes into the frame's payload; returns the new position. */
export function maskInPlace(d: Uint8Array, k: Uint8Array, pos: number): number {
  let i = 0;
  for (; i < d.length && (d.byteOffset + i) & 3; i++) d[i]! ^= k[(pos + i) & 3]!;
  const words = (d.length - i) >> 2;
  if (words > 0) {
    const p = pos + i;
    const kw = k[p & 3]! | (k[(p + 1) & 3]! << 8) | (k[(p + 2) & 3]! << 16) | (k[(p + 3) & 3]! << 24);
    const w = new Uint32Array(d.buffer, d.byteOffset + i, words);
    for (let j = 0; j < words; j++) w[j]! ^= kw;
    i += words << 2;
  }
  for (; i < d.length; i++) d[i]! ^= k[(pos + i) & 3]!;
  return pos + d.length;
}
