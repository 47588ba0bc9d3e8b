// Go-style duration strings ("500ms", "30s", "1h30m") <-> whole milliseconds, the unit every duration in the
// effective config is held in. Bare numbers are read in a per-key unit, because upstream keys disagree on it.

/** Unit a bare number (`30`, `"30"`) is read in. Upstream: heartbeat intervals in seconds, route refresh in hours. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export const BARE_UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

const BARE_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const COMPONENT = /(\d+(?:\.\d*)?|\.\d+)([a-zµμ]+)/gy;

/**
 * Parse a Go duration string or a bare number (read in `bareUnit`) into whole milliseconds.
 * Errors are values: `{ ok: false, message }` says what was wrong in words an operator can act on.
 */
export function tryParseDuration(input: string | number, bareUnit: DurationUnit = 'ms'): DurationResult {
  let ms: number;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, message: 'expected a finite duration' };
    ms = input * BARE_UNIT_MS[bareUnit];
  } else {
    const text = input.trim();
    if (text === '') return { ok: false, message: 'expected a duration such as "30s", got an empty string' };
    if (BARE_NUMBER.test(text)) {
      ms = Number(text) * BARE_UNIT_MS[bareUnit];
    } else {
      let sign = 1;
      let rest = text;
      if (rest[0] === '-' || rest[0] === '+') {
        if (rest[0] === '-') sign = -1;
        rest = rest.slice(1);
      }
      COMPONENT.lastIndex = 0;
      let total = 0;
      let consumed = 0;
      for (let m = COMPONENT.exec(rest); m; m = COMPONENT.exec(rest)) {
        const unit = UNIT_MS[m[2]!];
        if (unit === undefined) {
          return { ok: false, message: `unknown duration unit "${m[2]}" in "${text}" (use ns, us, ms, s, m, h)` };
        }
        total += Number(m[1]) * unit;
        consumed = COMPONENT.lastIndex;
      }
      if (consumed !== rest.length || rest.length === 0) {
        return { ok: false, message: `expected a duration such as "500ms", "30s", "5m" or "1h30m", got "${text}"` };
      }
      ms = sign * total;
    }
  }
  const rounded = Math.round(ms);
  if (rounded === 0 && ms !== 0) return { ok: false, message: 'durations are held in whole milliseconds; this rounds to 0' };
  return { ok: true, ms: rounded === 0 ? 0 : rounded };
}

/** Like `tryParseDuration`, but throws a `RangeError` with the reason. */
export function parseDuration(input: string | number, bareUnit: DurationUnit = 'ms'): number {
  const r = tryParseDuration(input, bareUnit);
  if (!r.ok) throw new RangeError(r.message);
  return r.ms;
}

/** Format milliseconds as a compact Go-style string: 5400000 → "1h30m", 1500 → "1s500ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.round(Math.abs(ms));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return sign + parts.join('');
}
