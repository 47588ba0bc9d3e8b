// The §5.3 stream header and the T2 datagram framing: round trips, arbitrary chunking, and T3 validation.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { DatagramReader, decodeStreamHeader, encodeDatagram, encodeStreamHeader } from '../../src/protocol/l4-stream-header.ts';

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);

describe('stream header (§5.3, T3)', () => {
  test('encode → decode round-trips, with the bytes after it kept, whatever prefix arrived so far', () => {
    fc.assert(
      fc.property(name, name, fc.integer({ min: 1, max: 65535 }), fc.string({ maxLength: 80 }), fc.constantFrom('tcp', 'udp'), fc.uint8Array({ maxLength: 20 }), (svc, ns, port, tunnelId, protocol, rest) => {
        const h = encodeStreamHeader({ protocol: protocol as 'tcp' | 'udp', serviceName: svc, serviceNamespace: ns, servicePort: port, tunnelId });
        const all = new Uint8Array(h.length + rest.length);
        all.set(h);
        all.set(rest, h.length);
        for (let cut = 0; cut < h.length; cut++) expect(decodeStreamHeader(all.subarray(0, cut)).kind).toBe('partial');
        const d = decodeStreamHeader(all);
        expect(d.kind).toBe('ok');
        if (d.kind !== 'ok') return;
        expect(d.header).toEqual({ version: 1, protocol, serviceName: svc, serviceNamespace: ns, servicePort: port, tunnelId });
        expect([...d.rest]).toEqual([...rest]);
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary bytes never throw: partial, ok or an error with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const d = decodeStreamHeader(b);
        if (d.kind === 'error') expect(d.error.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });

  test('targets are checked like the HTTP service proxy: names, port 0, oversize lengths before they arrive', () => {
    const bad = (o: Partial<{ serviceName: string; serviceNamespace: string; servicePort: number }>) =>
      decodeStreamHeader(encodeStreamHeader({ protocol: 'tcp', serviceName: 'redis', serviceNamespace: 'data', servicePort: 6379, tunnelId: 't', ...o }));
    expect(bad({ serviceName: 'Redis' })).toMatchObject({ kind: 'error', error: expect.stringContaining('service name') });
    expect(bad({ serviceName: 'a.b' })).toMatchObject({ kind: 'error' });
    expect(bad({ serviceNamespace: '-x' })).toMatchObject({ kind: 'error', error: expect.stringContaining('namespace') });
    expect(bad({ servicePort: 0 })).toMatchObject({ kind: 'error', error: expect.stringContaining('port') });
    // A declared name length of 4000 is refused from the first 6 bytes, without waiting for the name.
    expect(decodeStreamHeader(new Uint8Array([1, 1, 0, 80, 0x0f, 0xa0]))).toMatchObject({ kind: 'error', error: expect.stringContaining('4000 bytes') });
  });
});

describe('length-prefixed datagrams (T2)', () => {
  test('any chunking of a datagram sequence yields the same datagrams', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }), (dgrams, cuts) => {
        const parts = dgrams.map((d) => encodeDatagram(d));
        const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) {
          wire.set(p, o);
          o += p.length;
        }
        const r = new DatagramReader();
        const got: number[][] = [];
        let i = 0;
        for (let at = 0; at < wire.length; ) {
          const n = cuts[i++ % cuts.length]!;
          for (const d of r.push(wire.subarray(at, at + n))) got.push([...d]);
          at += n;
        }
        expect(got).toEqual(dgrams.map((d) => [...d]));
      }),
      { numRuns: 300 },
    );
  });

  test('a datagram over 65,535 bytes cannot be framed', () => {
    expect(() => encodeDatagram(new Uint8Array(65536))).toThrow('16-bit');
  });
});
