// The public gateway's one path form (routes/request-path.ts): examples and properties.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { normaliseRequestPath } from '../../src/hub/routes/request-path.ts';

describe('normaliseRequestPath', () => {
  test.each([
    ['/', '/'],
    ['//a//b', '/a/b'],
    ['/admin/../x', '/x'],
    ['/admin/%2e%2E/x', '/x'],
    ['/a/b/..', '/a/'],
    ['/a/./', '/a/'],
    ['/a%2Fb', '/a%2Fb'],
    ['/caf%C3%A9/%20x', '/caf%C3%A9/%20x'],
  ])('%s → %s', (raw, want) => {
    expect(normaliseRequestPath(raw)).toEqual({ ok: true, path: want });
  });

  test.each(['/..', '/a/../..', '/a/..%2fb', '/a/..%5Cb', '/a/..;/b', '/a\\b', '/a/%zz', 'a/b'])('%s is refused', (raw) => {
    expect(normaliseRequestPath(raw).ok).toBe(false);
  });

  const segment = fc.oneof(fc.constantFrom('', '.', '..', '%2e', '%2E%2e', '.%2e', 'a', 'b%2Fc', ';x', '..;'), fc.stringMatching(/^[a-z0-9%._~-]{0,6}$/));
  const paths = fc.array(segment, { maxLength: 8 }).map((s) => `/${s.join('/')}`);

  test('a normalised path has no empty or dot segment, not even encoded, and normalising it again changes nothing', () => {
    fc.assert(
      fc.property(paths, (raw) => {
        const r = normaliseRequestPath(raw);
        if (!r.ok) return;
        const segs = r.path.split('/').slice(1, r.path.endsWith('/') ? -1 : undefined);
        for (const s of segs) {
          expect(s).not.toBe('');
          expect(['.', '..']).not.toContain(s.replace(/%2e/gi, '.').split(';')[0]);
        }
        expect(normaliseRequestPath(r.path)).toEqual(r);
      }),
    );
  });
});
