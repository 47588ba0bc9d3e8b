import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/config/duration.ts';

// Canonical Go-style strings: components in h, m, s, ms order, each non-zero, minutes/seconds < 60, ms < 1000.
const canonical = fc
  .record({
    h: fc.integer({ min: 0, max: 1000 }),
    m: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    ms: fc.integer({ min: 0, max: 999 }),
  })
  .map(({ h, m, s, ms }) => {
    const text = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}${ms ? `${ms}ms` : ''}`;
    return text === '' ? '0s' : text;
  });

describe('parseDuration / formatDuration', () => {
  test('format(parse(x)) === x for canonical durations', () => {
    fc.assert(fc.property(canonical, (text) => formatDuration(parseDuration(text)) === text));
  });

  test('parse(format(ms)) === ms for whole milliseconds', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });

  test('Go-style strings', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('4h')).toBe(14_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1500us')).toBe(2); // rounded to whole ms
    expect(parseDuration('-2s')).toBe(-2000);
    expect(parseDuration(' 10s ')).toBe(10_000);
  });

  test('bare numbers are read in the key\'s unit', () => {
    expect(parseDuration(30, 's')).toBe(30_000);
    expect(parseDuration('30', 's')).toBe(30_000);
    expect(parseDuration('4', 'h')).toBe(14_400_000);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('0', 'h')).toBe(0);
  });

  test('invalid strings are rejected with a reason', () => {
    for (const bad of ['', 'abc', '5 minutes', '1d', 's', '1h-5m', '--1s', '1.2.3s', 'NaN', '1h 5m']) {
      const r = tryParseDuration(bad);
      expect(r.ok).toBe(false);
    }
    expect(tryParseDuration('1d')).toEqual({ ok: false, message: expect.stringContaining('unknown duration unit "d"') });
    expect(tryParseDuration('1us').ok).toBe(false); // rounds to 0 ms
    expect(() => parseDuration('soon')).toThrow(RangeError);
  });

  test('random junk never parses into a value silently wrong', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (s) => {
        const r = tryParseDuration(s);
        if (!r.ok) return true;
        // Whatever parses must be made only of numbers and known units.
        return /^\s*[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)?)+\s*$/.test(s);
      }),
    );
  });
});

describe('duration settings beyond what a timer can wait (issue 19)', () => {
  test('a timeout past 2^31-1 ms is refused with the bound, not turned into a 1 ms timer', async () => {
    const { parseAgentConfig } = await import('../../src/config/schema.ts');
    const { MAX_DURATION_MS } = await import('../../src/config/fields.ts');
    const base = { pipeops: { api_url: 'http://127.0.0.1:1', token: 't' }, agent: { cluster_name: 'c' } };
    expect(() => parseAgentConfig({ ...base, timeouts: { websocket_read: '600h' } } as never)).toThrow(/must be at most/);
    const ok = parseAgentConfig({ ...base, timeouts: { websocket_read: `${MAX_DURATION_MS}ms` } } as never);
    expect(ok.timeouts.websocket_read).toBe(MAX_DURATION_MS);
  });
});
