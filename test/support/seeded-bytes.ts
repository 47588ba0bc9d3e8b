// Deterministic test bytes (a linear congruential generator): the same `n` and `seed` give the same bytes on every
// run. The first byte is `{`, so a body never starts with the gzip magic (1f 8b) by chance.
export function seededBytes(n: number, seed = 7): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  if (n) b[0] = 0x7b;
  return b;
}
