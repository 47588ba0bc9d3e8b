// What the floor relay's two ends share (bench/support/floor-agent.ts, floor-hub.ts): WebSocket masking for their own
// WebSocket code, and the variant options they are started with.

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

/** A floor variant (`bench/relay-floor.ts --floors`): `key=value,key=value` as a map. */
export function variantOptions(variant: string): Map<string, string> {
  return new Map(
    variant
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
}
