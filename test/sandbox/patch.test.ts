// Strategic merge patch, JSON merge patch and JSON patch semantics, with property tests for merge patch.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { applyJsonPatch } from '../../src/sandbox/json-patch.ts';
import { jsonMergePatch } from '../../src/sandbox/json-merge-patch.ts';
import { strategicMergePatch } from '../../src/sandbox/strategic-merge-patch.ts';

const deployment = {
  metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['a'] },
  spec: {
    template: {
      spec: {
        containers: [
          { name: 'web', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }] },
          { name: 'side', image: 'busybox' },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    },
  },
};

describe('strategic merge patch', () => {
  test('containers merge by name, env by name; other fields stay', () => {
    const out = strategicMergePatch(deployment, {
      spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2', env: [{ name: 'B', value: '3' }] }] } } },
    }) as typeof deployment;
    const [web, side] = out.spec.template.spec.containers;
    expect(web).toEqual({ name: 'web', image: 'nginx:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }], ports: [{ containerPort: 80 }] });
    expect(side).toEqual({ name: 'side', image: 'busybox' });
    expect(out.spec.template.spec.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
  });

  test('$patch: delete removes one list item; null removes a field', () => {
    const out = strategicMergePatch(deployment, {
      metadata: { labels: { app: null } },
      spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } },
    }) as typeof deployment;
    expect(out.spec.template.spec.containers.map((c) => c.name)).toEqual(['web']);
    expect(out.metadata.labels as Record<string, string>).toEqual({});
  });

  test('$setElementOrder reorders and $deleteFromPrimitiveList removes; finalizers merge as a set', () => {
    const out = strategicMergePatch(deployment, {
      metadata: { finalizers: ['b'], '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }], containers: [{ name: 'web', image: 'nginx:3' }] } } },
    }) as typeof deployment;
    expect(out.metadata.finalizers).toEqual(['b']);
    expect(out.spec.template.spec.containers.map((c) => `${c.name}:${c.image}`)).toEqual(['side:busybox', 'web:nginx:3']);
  });

  test('service ports merge by port; lists without a merge key are replaced', () => {
    const svc = { spec: { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }], externalIPs: ['1.1.1.1'], tolerations: [{ key: 'a' }] } };
    const out = strategicMergePatch(svc, { spec: { ports: [{ port: 443, targetPort: 8443 }], externalIPs: ['2.2.2.2'], tolerations: [{ key: 'b' }] } });
    expect(out).toEqual({
      spec: { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443, targetPort: 8443 }], externalIPs: ['2.2.2.2'], tolerations: [{ key: 'b' }] },
    });
  });

  test('$patch: replace on a map replaces it', () => {
    expect(strategicMergePatch({ a: { x: 1, y: 2 } }, { a: { $patch: 'replace', z: 3 } })).toEqual({ a: { z: 3 } });
  });

  test('does not mutate its inputs', () => {
    const before = JSON.stringify(deployment);
    strategicMergePatch(deployment, { spec: { template: { spec: { containers: [{ name: 'web', image: 'x' }] } } } });
    expect(JSON.stringify(deployment)).toBe(before);
  });
});

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), tie('object'), fc.array(fc.integer(), { maxLength: 3 })),
  object: fc.dictionary(fc.stringMatching(/^[a-e]$/), tie('value'), { maxKeys: 4 }),
})).object as fc.Arbitrary<Record<string, unknown>>;

describe('JSON merge patch', () => {
  test('RFC 7386 examples', () => {
    expect(jsonMergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(jsonMergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
  });

  test('applying a null-free patch twice equals applying it once (property)', () => {
    fc.assert(
      fc.property(json, json, (doc, patch) => {
        const once = jsonMergePatch(doc, patch);
        expect(jsonMergePatch(once, patch)).toEqual(once);
      }),
    );
  });

  test('patching with the document itself yields the document (property)', () => {
    fc.assert(fc.property(json, json, (base, doc) => expect(jsonMergePatch(base, doc)).toMatchObject(doc)));
  });

  test('strategic merge without lists behaves like merge patch (property)', () => {
    const noLists = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), tie('object')),
      object: fc.dictionary(fc.stringMatching(/^[a-e]$/), tie('value'), { maxKeys: 4 }),
    })).object;
    fc.assert(fc.property(noLists, noLists, (doc, patch) => expect(strategicMergePatch(doc, patch)).toEqual(jsonMergePatch(doc, patch))));
  });
});

describe('JSON patch', () => {
  test('add, replace, remove, test, move, copy', () => {
    const r = applyJsonPatch({ metadata: { labels: { a: '1' } }, list: [1, 2] }, [
      { op: 'add', path: '/metadata/labels/b', value: '2' },
      { op: 'replace', path: '/metadata/labels/a', value: 'x' },
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'remove', path: '/list/0' },
      { op: 'test', path: '/list', value: [2, 3] },
      { op: 'copy', from: '/metadata/labels/a', path: '/c' },
      { op: 'move', from: '/c', path: '/d' },
    ]);
    expect(r).toEqual({ ok: true, value: { metadata: { labels: { a: 'x', b: '2' } }, list: [2, 3], d: 'x' } });
  });

  test('a failing op is an error value with the path in the message', () => {
    const r = applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/missing/deeper', value: 1 }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('/missing/deeper');
    expect(applyJsonPatch({ a: [1] }, [{ op: 'replace', path: '/a/3', value: 1 }]).ok).toBe(false);
    expect(applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]).ok).toBe(false);
  });

  test('replace of a missing member of an object adds it, as on kube-apiserver v1.37 (test/real/fidelity.test.ts)', () => {
    expect(applyJsonPatch({ data: { k: 'v' } }, [{ op: 'replace', path: '/data/none', value: 'x' }])).toEqual({ ok: true, value: { data: { k: 'v', none: 'x' } } });
  });

  test('keys with ~ and / are escaped in pointers', () => {
    const r = applyJsonPatch({ metadata: { annotations: {} } }, [{ op: 'add', path: '/metadata/annotations/example.com~1a~0b', value: 'v' }]);
    expect(r).toEqual({ ok: true, value: { metadata: { annotations: { 'example.com/a~b': 'v' } } } });
  });
});
