// The bun:test shim of the Deno tier must fail what Bun fails: each case runs through Bun's expect and the shim's,
// and both must agree on pass or fail (a shim that passed everything would make the Deno tier meaningless).
import { describe, expect, test } from 'bun:test';
import { expect as shimExpect } from './bun-test.ts';

type Case = [string, (e: typeof expect) => unknown];

const CASES: Case[] = [
  ['toBe same', (e) => e(1).toBe(1)],
  ['toBe different', (e) => e(1).toBe(2)],
  ['toBe objects', (e) => e({}).toBe({})],
  ['not.toBe', (e) => e('a').not.toBe('b')],
  ['toEqual deep', (e) => e({ a: [1, { b: 2 }] }).toEqual({ a: [1, { b: 2 }] })],
  ['toEqual differs deep', (e) => e({ a: [1, { b: 2 }] }).toEqual({ a: [1, { b: 3 }] })],
  ['toEqual ignores undefined props', (e) => e({ a: 1, b: undefined } as object).toEqual({ a: 1 })],
  ['toStrictEqual sees undefined props', (e) => e({ a: 1, b: undefined } as object).toStrictEqual({ a: 1 })],
  ['toEqual array lengths', (e) => e([1, 2]).toEqual([1, 2, 3])],
  ['toEqual bytes', (e) => e(new Uint8Array([1, 2])).toEqual(new Uint8Array([1, 2]))],
  ['toEqual bytes differ', (e) => e(new Uint8Array([1, 2])).toEqual(new Uint8Array([1, 3]))],
  ['toEqual maps', (e) => e(new Map([['a', 1]])).toEqual(new Map([['a', 1]]))],
  ['toEqual maps differ', (e) => e(new Map([['a', 1]])).toEqual(new Map([['a', 2]]))],
  ['toEqual NaN', (e) => e(Number.NaN).toEqual(Number.NaN)],
  ['toContain string', (e) => e('hello').toContain('ell')],
  ['toContain string missing', (e) => e('hello').toContain('xyz')],
  ['toContain array', (e) => e([1, 2]).toContain(2)],
  ['not.toContain array', (e) => e([1, 2]).not.toContain(2)],
  ['toMatchObject subset', (e) => e({ a: 1, b: { c: 2, d: 3 } }).toMatchObject({ b: { c: 2 } })],
  ['toMatchObject mismatch', (e) => e({ a: 1, b: { c: 2 } }).toMatchObject({ b: { c: 9 } })],
  ['toMatch regex', (e) => e('abc123').toMatch(/\d+/)],
  ['toMatch regex fails', (e) => e('abc').toMatch(/\d+/)],
  ['toThrow message', (e) => e(() => { throw new Error('boom here'); }).toThrow('boom')],
  ['toThrow wrong message', (e) => e(() => { throw new Error('boom'); }).toThrow('bang')],
  ['toThrow no throw', (e) => e(() => 1).toThrow()],
  ['not.toThrow', (e) => e(() => 1).not.toThrow()],
  ['toBeNull', (e) => e(null).toBeNull()],
  ['toBeNull on undefined', (e) => e(undefined).toBeNull()],
  ['toBeGreaterThan', (e) => e(3).toBeGreaterThan(2)],
  ['toBeGreaterThan equal', (e) => e(2).toBeGreaterThan(2)],
  ['toBeLessThanOrEqual', (e) => e(2).toBeLessThanOrEqual(2)],
  ['toHaveLength', (e) => e([1, 2, 3]).toHaveLength(3)],
  ['toHaveLength wrong', (e) => e('ab').toHaveLength(3)],
  ['toStartWith', (e) => e('prefix-x').toStartWith('prefix')],
  ['toStartWith wrong', (e) => e('x-prefix').toStartWith('prefix')],
  ['toBeInstanceOf', (e) => e(new TypeError('x')).toBeInstanceOf(Error)],
  ['toContainEqual', (e) => e([{ a: 1 }]).toContainEqual({ a: 1 })],
  ['stringContaining', (e) => e({ m: 'a long message' }).toEqual({ m: e.stringContaining('long') })],
  ['stringContaining fails', (e) => e({ m: 'short' }).toEqual({ m: e.stringContaining('long') })],
];

function outcome(run: () => unknown): 'pass' | 'fail' {
  try {
    run();
    return 'pass';
  } catch {
    return 'fail';
  }
}

describe('the Deno tier bun:test shim agrees with Bun', () => {
  for (const [name, c] of CASES)
    test(name, () => {
      expect(outcome(() => c(shimExpect as unknown as typeof expect))).toBe(outcome(() => c(expect)));
    });

  test('both outcomes occur among the cases (the comparison can fail)', () => {
    const shim = CASES.map(([, c]) => outcome(() => c(shimExpect as unknown as typeof expect)));
    expect(shim).toContain('pass');
    expect(shim).toContain('fail');
  });

  test('an unsupported matcher throws instead of passing', () => {
    expect(() => (shimExpect(1) as unknown as { toSatisfy(f: unknown): void }).toSatisfy(() => true)).toThrow('not supported by the Deno shim');
  });

  test('resolves and rejects', async () => {
    const sx = shimExpect as unknown as typeof expect;
    await sx(Promise.resolve(3)).resolves.toBe(3);
    await sx(Promise.reject(new Error('nope'))).rejects.toThrow('nope');
    expect(await outcome2(() => sx(Promise.resolve(3)).resolves.toBe(4))).toBe('fail');
  });
});

async function outcome2(run: () => unknown): Promise<'pass' | 'fail'> {
  try {
    await run();
    return 'pass';
  } catch {
    return 'fail';
  }
}
