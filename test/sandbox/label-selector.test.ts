// Label and field selector parsing/matching, including property tests for the parser round trip.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { isApiError } from '../../src/sandbox/api-status.ts';
import { matchesFields, parseFieldSelector, resolveFieldLabels } from '../../src/sandbox/field-selector.ts';
import { formatLabelSelector, type LabelSelector, matchesLabels, parseLabelSelector } from '../../src/sandbox/label-selector.ts';

function sel(s: string): LabelSelector {
  const r = parseLabelSelector(s);
  if (isApiError(r)) throw new Error(r.message);
  return r;
}

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'frontend', 'app.kubernetes.io/name': 'x', n: '5' };
  test.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=db', false],
    ['app in (db, web)', true],
    ['app notin (db,web)', false],
    ['missing notin (a)', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=web,tier=frontend', true],
    ['app=web,tier=backend', false],
    ['app.kubernetes.io/name=x', true],
    ['n>3', true],
    ['n<3', false],
    ['missing!=x', true],
    ['tier=', false],
  ])('%p matches: %p', (s, expected) => {
    expect(matchesLabels(sel(s), labels)).toBe(expected);
  });

  test.each(['app in ()', 'app in (a', '=x', 'a b', 'app>x', 'a,'])('rejects %p', (s) => {
    const r = parseLabelSelector(s);
    expect(isApiError(r)).toBe(true);
    if (isApiError(r)) expect(r.code).toBe(400);
  });

  const key = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
  const value = fc.stringMatching(/^[a-z0-9]{1,6}$/);
  const requirement = fc.oneof(
    fc.record({ key, op: fc.constantFrom('=' as const, '!=' as const), values: fc.tuple(value) }),
    fc.record({ key, op: fc.constantFrom('in' as const, 'notin' as const), values: fc.array(value, { minLength: 1, maxLength: 3 }) }),
    fc.record({ key, op: fc.constantFrom('exists' as const, '!' as const), values: fc.constant([] as string[]) }),
  );

  test('format → parse is the identity (property)', () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 5 }), (reqs) => {
        const s = reqs.map((r) => ({ ...r, values: [...r.values] }));
        expect(parseLabelSelector(formatLabelSelector(s))).toEqual(s);
      }),
    );
  });

  test('a selector and its negation never both match (property)', () => {
    fc.assert(
      fc.property(key, value, fc.dictionary(key, value), (k, v, l) => {
        expect(matchesLabels(sel(`${k}=${v}`), l)).toBe(!matchesLabels(sel(`${k}!=${v}`), l));
        expect(matchesLabels(sel(k), l)).toBe(!matchesLabels(sel(`!${k}`), l));
      }),
    );
  });

  test('the parser never throws on arbitrary input (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      parseLabelSelector(s);
    }));
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'web-0', namespace: 'default' }, spec: { nodeName: 'node-1' }, status: { phase: 'Running' } };
  const fields = ['spec.nodeName', 'status.phase'];
  const matches = (s: string) => {
    const reqs = parseFieldSelector(s);
    if (isApiError(reqs)) throw new Error(reqs.message);
    const paths = resolveFieldLabels(reqs, 'Pod', fields);
    if (isApiError(paths)) throw new Error(paths.message);
    return matchesFields(reqs, paths, pod);
  };
  test.each([
    ['metadata.name=web-0', true],
    ['metadata.name==web-0', true],
    ['metadata.name!=web-0', false],
    ['metadata.namespace=default,status.phase=Running', true],
    ['spec.nodeName=node-2', false],
    ['spec.nodeName!=', true],
  ])('%p matches: %p', (s, expected) => {
    expect(matches(s)).toBe(expected);
  });

  test('unknown field labels are a 400 naming the field', () => {
    const reqs = parseFieldSelector('spec.bogus=1');
    if (isApiError(reqs)) throw new Error(reqs.message);
    const r = resolveFieldLabels(reqs, 'Pod', fields);
    expect(isApiError(r) && r.code === 400 && r.message.includes('spec.bogus')).toBe(true);
  });

  test('escaped separators stay in the value', () => {
    expect(parseFieldSelector('metadata.name=a\\,b')).toEqual([{ field: 'metadata.name', op: '=', value: 'a,b' }]);
  });
});
