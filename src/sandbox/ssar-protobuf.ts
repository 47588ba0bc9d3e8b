// Decodes the protobuf SelfSubjectAccessReview that `kubectl auth can-i` posts (`k8s\0` + runtime.Unknown).
// Only the spec's attribute strings are read; the reply is JSON, which kubectl accepts.

export interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}
export interface NonResourceAttributes {
  path?: string;
  verb?: string;
}
export interface AccessReviewSpec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: NonResourceAttributes;
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

/** Length-delimited fields of one message, by field number; other wire types are skipped. */
function fields(buf: Uint8Array): Map<number, Uint8Array> | string {
  const out = new Map<number, Uint8Array>();
  let i = 0;
  const varint = (): number | undefined => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) return undefined;
      const b = buf[i++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 63) return undefined;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    if (tag === undefined) return 'truncated tag';
    const wire = tag & 7;
    const field = Math.floor(tag / 8);
    if (wire === 0) {
      if (varint() === undefined) return 'truncated varint';
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (len === undefined || i + len > buf.length) return 'truncated length-delimited field';
      out.set(field, buf.subarray(i, i + len));
      i += len;
    } else return `unsupported wire type ${wire}`;
  }
  return out;
}

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

function strings<T extends object>(buf: Uint8Array | undefined, names: (keyof T)[]): T | undefined | string {
  if (!buf) return undefined;
  const f = fields(buf);
  if (typeof f === 'string') return f;
  const out: Record<string, string> = {};
  names.forEach((n, idx) => {
    const v = text(f.get(idx + 1));
    if (v !== undefined) out[n as string] = v;
  });
  return out as T;
}

export function isProtobufEnvelope(body: Uint8Array): boolean {
  return MAGIC.every((b, i) => body[i] === b);
}

/** Spec of the review, or a reason the bytes could not be read. */
export function decodeAccessReview(body: Uint8Array): AccessReviewSpec | string {
  if (!isProtobufEnvelope(body)) return 'missing the k8s protobuf envelope';
  const unknown = fields(body.subarray(4));
  if (typeof unknown === 'string') return unknown;
  const raw = unknown.get(2);
  if (!raw) return 'runtime.Unknown has no raw object';
  const review = fields(raw);
  if (typeof review === 'string') return review;
  const spec = review.get(2);
  if (!spec) return {};
  const sf = fields(spec);
  if (typeof sf === 'string') return sf;
  const resourceAttributes = strings<ResourceAttributes>(sf.get(1), [
    'namespace',
    'verb',
    'group',
    'version',
    'resource',
    'subresource',
    'name',
  ]);
  const nonResourceAttributes = strings<NonResourceAttributes>(sf.get(2), ['path', 'verb']);
  if (typeof resourceAttributes === 'string') return resourceAttributes;
  if (typeof nonResourceAttributes === 'string') return nonResourceAttributes;
  return {
    ...(resourceAttributes ? { resourceAttributes } : {}),
    ...(nonResourceAttributes ? { nonResourceAttributes } : {}),
  };
}
