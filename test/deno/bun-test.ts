// `bun:test` for `deno test` (the Deno tier of issue 16): deno.json maps the `bun:test` import here, so the
// protocol, config and timing unit tests run unchanged under Deno. describe/test/hooks become Deno.test steps of
// one flat list ("describe > name"); `expect` covers the matchers our tests use, with Bun's semantics (toEqual
// ignores undefined properties, toStrictEqual does not). Anything unsupported throws, so it cannot pass silently.

interface DenoTestApi {
  test(t: { name: string; ignore?: boolean; fn: () => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean; sanitizeExit: boolean }): void;
}
declare const Deno: DenoTestApi;

type Fn = () => unknown;
interface Block {
  name: string;
  parent: Block | null;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  /** Tests registered under this block (and its children) that have not run yet; afterAll runs when it reaches 0. */
  remaining: number;
  started: boolean;
}

/**
 * Tests that use a Bun API themselves (not the code under test): registered as ignored under Deno, with the reason
 * in their name, so the report shows them rather than hiding them.
 */
const BUN_ONLY = new Map<string, string>([
  ['closeFrameArgs (relayed close frames) > every code isSendableCloseCode admits is accepted by the runtime, and every other is refused', 'starts a Bun.serve WebSocket server'],
]);

const root: Block = { name: '', parent: null, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], remaining: 0, started: false };
let current = root;

function chain(b: Block): Block[] {
  const out: Block[] = [];
  for (let x: Block | null = b; x; x = x.parent) out.unshift(x);
  return out;
}

function register(name: string, fn: Fn | undefined, ignore = false): void {
  const block = current;
  const blocks = chain(block);
  if (!ignore) for (const b of blocks) b.remaining++;
  const full = [...blocks.map((b) => b.name).filter(Boolean), name].join(' > ');
  const bunOnly = BUN_ONLY.get(full);
  if (bunOnly) {
    if (!ignore) for (const b of blocks) b.remaining--;
    Deno.test({ name: `${full} (Bun only: ${bunOnly})`, ignore: true, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false, fn: async () => {} });
    return;
  }
  Deno.test({
    name: full,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    async fn() {
      try {
        for (const b of blocks)
          if (!b.started) {
            b.started = true;
            for (const h of b.beforeAll) await h();
          }
        for (const b of blocks) for (const h of b.beforeEach) await h();
        try {
          await fn?.();
        } finally {
          for (const b of [...blocks].reverse()) for (const h of b.afterEach) await h();
        }
      } finally {
        for (const b of [...blocks].reverse()) if (--b.remaining === 0) for (const h of b.afterAll) await h();
      }
    },
  });
}

type TestFn = ((name: string, fn?: Fn, timeout?: number) => void) & {
  skip(name: string, fn?: Fn): void;
  todo(name: string, fn?: Fn): void;
  only(name: string, fn?: Fn): void;
  concurrent: TestFn;
  if(cond: boolean): (name: string, fn?: Fn) => void;
  skipIf(cond: boolean): (name: string, fn?: Fn) => void;
  each<T>(rows: readonly T[]): (name: string, fn: (...a: T extends unknown[] ? T : [T]) => unknown) => void;
};

function makeTest(): TestFn {
  const t = ((name: string, fn?: Fn) => register(name, fn)) as TestFn;
  t.skip = (name) => register(name, undefined, true);
  t.todo = (name) => register(name, undefined, true);
  t.only = () => {
    throw new Error('test.only is not supported by the Deno shim (and not allowed by the lint)');
  };
  t.if = (cond) => (cond ? t : t.skip);
  t.skipIf = (cond) => (cond ? t.skip : t);
  t.each = (rows) => (name, fn) => {
    rows.forEach((row, i) => {
      const args = (Array.isArray(row) ? row : [row]) as never[];
      register(`${name.replace(/%[sdpij]/g, () => String(args.shift?.() ?? i))} [${i}]`, () => (fn as (...a: unknown[]) => unknown)(...(Array.isArray(row) ? row : [row])));
    });
  };
  t.concurrent = t;
  return t;
}

export const test = makeTest();
export const it = test;

type DescribeFn = ((name: string, body: () => void) => void) & { skip(name: string, body: () => void): void; concurrent: DescribeFn; if(c: boolean): DescribeFn };
export const describe = ((name: string, body: () => void) => {
  const b: Block = { name, parent: current, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], remaining: 0, started: false };
  const prev = current;
  current = b;
  try {
    body();
  } finally {
    current = prev;
  }
}) as DescribeFn;
describe.skip = (name) => register(`${name} (skipped block)`, undefined, true);
describe.concurrent = describe;
describe.if = (c) => (c ? describe : (describe.skip as DescribeFn));

export const beforeAll = (fn: Fn) => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn) => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn) => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn) => void current.afterEach.push(fn);

// ---- expect ----

class Asymmetric {
  constructor(
    readonly describe: string,
    readonly matches: (v: unknown) => boolean,
  ) {}
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function equals(a: unknown, b: unknown, strict: boolean, seen = new Map<unknown, unknown>()): boolean {
  if (b instanceof Asymmetric) return b.matches(a);
  if (a instanceof Asymmetric) return a.matches(b);
  if (Object.is(a, b)) return true;
  if (!isObject(a) || !isObject(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b) || a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    const ua = a instanceof ArrayBuffer ? new Uint8Array(a) : ArrayBuffer.isView(a) ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : null;
    const ub = b instanceof ArrayBuffer ? new Uint8Array(b) : ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : null;
    if (!ua || !ub || ua.length !== ub.length) return false;
    if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    return ua.every((x, i) => x === ub[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equals(v, b.get(k), strict, seen)) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (![...b].some((w) => equals(v, w, strict, seen))) return false;
    return true;
  }
  if (a instanceof Error && b instanceof Error && a.message !== b.message) return false;
  const keys = (o: Record<string, unknown>) => Object.keys(o).filter((k) => strict || o[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) return false;
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && equals(a[k], b[k], strict, seen));
}

function matchesObject(actual: unknown, expected: unknown): boolean {
  if (expected instanceof Asymmetric) return expected.matches(actual);
  if (!isObject(expected)) return equals(actual, expected, false);
  if (!isObject(actual)) return false;
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matchesObject(actual[i], e));
  return Object.keys(expected).every((k) => k in actual && matchesObject((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]));
}

function show(v: unknown): string {
  try {
    if (typeof v === 'string') return JSON.stringify(v);
    if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Map ? Object.fromEntries(x) : x instanceof Set ? [...x] : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

function thrown(fn: unknown): { threw: boolean; error: unknown } {
  if (typeof fn !== 'function') return { threw: false, error: undefined };
  try {
    fn();
    return { threw: false, error: undefined };
  } catch (e) {
    return { threw: true, error: e };
  }
}

function throwMatches(error: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  const msg = error instanceof Error ? error.message : String(error);
  if (typeof expected === 'string') return msg.includes(expected);
  if (expected instanceof RegExp) return expected.test(msg);
  if (typeof expected === 'function') return error instanceof (expected as new () => unknown);
  if (expected instanceof Error) return msg === expected.message;
  return false;
}

type Matchers = Record<string, (...args: never[]) => void>;

function matchers(actual: unknown, negate: boolean): Matchers {
  const check = (pass: boolean, what: string) => {
    if (pass === negate) throw new Error(`expect(${show(actual)})${negate ? '.not' : ''}.${what}`);
  };
  const num = (v: unknown) => v as number;
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `toBe(${show(e)})`),
    toEqual: (e: unknown) => check(equals(actual, e, false), `toEqual(${show(e)})`),
    toStrictEqual: (e: unknown) => check(equals(actual, e, true), `toStrictEqual(${show(e)})`),
    toMatchObject: (e: unknown) => check(matchesObject(actual, e), `toMatchObject(${show(e)})`),
    toContain: (e: unknown) =>
      check(typeof actual === 'string' ? actual.includes(e as string) : [...(actual as Iterable<unknown>)].some((x) => Object.is(x, e)), `toContain(${show(e)})`),
    toContainEqual: (e: unknown) => check([...(actual as Iterable<unknown>)].some((x) => equals(x, e, false)), `toContainEqual(${show(e)})`),
    toHaveLength: (n: number) => check((actual as { length: number }).length === n, `toHaveLength(${n})`),
    toHaveProperty: (k: string, v?: unknown) =>
      check(isObject(actual) && k in actual && (v === undefined || equals((actual as Record<string, unknown>)[k], v, false)), `toHaveProperty(${show(k)})`),
    toBeNull: () => check(actual === null, 'toBeNull()'),
    toBeUndefined: () => check(actual === undefined, 'toBeUndefined()'),
    toBeDefined: () => check(actual !== undefined, 'toBeDefined()'),
    toBeTruthy: () => check(Boolean(actual), 'toBeTruthy()'),
    toBeFalsy: () => check(!actual, 'toBeFalsy()'),
    toBeNaN: () => check(Number.isNaN(actual), 'toBeNaN()'),
    toBeString: () => check(typeof actual === 'string', 'toBeString()'),
    toBeInstanceOf: (c: new (...a: never[]) => unknown) => check(actual instanceof c, `toBeInstanceOf(${c.name})`),
    toBeGreaterThan: (n: number) => check(num(actual) > n, `toBeGreaterThan(${n})`),
    toBeGreaterThanOrEqual: (n: number) => check(num(actual) >= n, `toBeGreaterThanOrEqual(${n})`),
    toBeLessThan: (n: number) => check(num(actual) < n, `toBeLessThan(${n})`),
    toBeLessThanOrEqual: (n: number) => check(num(actual) <= n, `toBeLessThanOrEqual(${n})`),
    toBeCloseTo: (n: number, digits = 2) => check(Math.abs(num(actual) - n) < 10 ** -digits / 2, `toBeCloseTo(${n}, ${digits})`),
    toMatch: (re: RegExp | string) => check(typeof re === 'string' ? String(actual).includes(re) : re.test(String(actual)), `toMatch(${String(re)})`),
    toStartWith: (p: string) => check(String(actual).startsWith(p), `toStartWith(${show(p)})`),
    toEndWith: (p: string) => check(String(actual).endsWith(p), `toEndWith(${show(p)})`),
    toThrow: (e?: unknown) => {
      const r = thrown(actual);
      check(r.threw && throwMatches(r.error, e), `toThrow(${e === undefined ? '' : String(e)})${r.threw ? ` (threw ${String(r.error)})` : ''}`);
    },
  };
}

type Expectation = Matchers & { not: Matchers; resolves: Matchers & { not: Matchers }; rejects: Matchers & { not: Matchers } };

function promised(p: Promise<unknown>, rejects: boolean): Matchers & { not: Matchers } {
  const wrap = (negate: boolean) =>
    new Proxy({} as Matchers, {
      get: (_t, name: string) =>
        async (...args: never[]) => {
          let v: unknown;
          try {
            v = await p;
            if (rejects) throw new Error('expected the promise to reject, it resolved');
          } catch (e) {
            if (!rejects) throw e;
            v = e;
            if (name === 'toThrow') {
              const m = matchers(() => {
                throw e;
              }, negate);
              return (m.toThrow as (...a: never[]) => void)(...args);
            }
          }
          const m = matchers(v, negate)[name];
          if (!m) throw new Error(`matcher ${name} is not supported by the Deno shim`);
          return m(...args);
        },
    });
  return Object.assign(wrap(false), { not: wrap(true) });
}

function withUnsupported(m: Matchers): Matchers {
  return new Proxy(m, {
    get: (t, name: string) => {
      if (name in t) return t[name];
      throw new Error(`matcher ${name} is not supported by the Deno shim`);
    },
  });
}

export const expect = Object.assign(
  (actual: unknown): Expectation =>
    Object.assign(withUnsupported(matchers(actual, false)), {
      not: withUnsupported(matchers(actual, true)),
      get resolves() {
        return promised(actual as Promise<unknown>, false);
      },
      get rejects() {
        return promised(actual as Promise<unknown>, true);
      },
    }) as Expectation,
  {
    stringContaining: (s: string) => new Asymmetric(`stringContaining(${s})`, (v) => typeof v === 'string' && v.includes(s)),
    stringMatching: (re: RegExp) => new Asymmetric(`stringMatching(${re})`, (v) => typeof v === 'string' && re.test(v)),
    any: (c: new (...a: never[]) => unknown) =>
      new Asymmetric(`any(${c.name})`, (v) => (c === (Number as unknown) ? typeof v === 'number' : c === (String as unknown) ? typeof v === 'string' : v instanceof c)),
    anything: () => new Asymmetric('anything()', (v) => v !== undefined && v !== null),
    arrayContaining: (xs: unknown[]) => new Asymmetric('arrayContaining', (v) => Array.isArray(v) && xs.every((x) => v.some((y) => equals(y, x, false)))),
    objectContaining: (o: Record<string, unknown>) => new Asymmetric('objectContaining', (v) => matchesObject(v, o)),
  },
);
