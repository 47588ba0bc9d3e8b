// Decodes the protobuf bodies kubectl's typed commands send (`kubectl create namespace|configmap|secret|deployment|
// service|serviceaccount`, `kubectl run`): the `k8s\0` envelope + runtime.Unknown, then a field table per kind
// standing in for k8s.io/api's generated.proto. Unknown fields are skipped, like a Go decoder of an older version.

/** `intPtr`: a Go *int32, sent only when set, so 0 is a real value; other zero values mean "unset" (omitempty). */
type Scalar = 'string' | 'int' | 'intPtr' | 'bool' | 'bytes' | 'intOrString';
type FieldType = Scalar | Schema | { map: Scalar | Schema };
interface FieldSpec {
  name: string;
  type: FieldType;
  repeated?: boolean;
}
type Schema = { [field: number]: FieldSpec };

const f = (name: string, type: FieldType, repeated = false): FieldSpec => ({ name, type, repeated });

const objectMeta: Schema = {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  11: f('labels', { map: 'string' }),
  12: f('annotations', { map: 'string' }),
  14: f('finalizers', 'string', true),
};
const labelSelector: Schema = {
  1: f('matchLabels', { map: 'string' }),
  2: f('matchExpressions', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('values', 'string', true) }, true),
};
const quantity: Schema = { 1: f('string', 'string') };
const container: Schema = {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: f('command', 'string', true),
  4: f('args', 'string', true),
  5: f('workingDir', 'string'),
  6: f('ports', { 1: f('name', 'string'), 2: f('hostPort', 'int'), 3: f('containerPort', 'int'), 4: f('protocol', 'string') }, true),
  7: f('env', { 1: f('name', 'string'), 2: f('value', 'string') }, true),
  8: f('resources', { 1: f('limits', { map: quantity }), 2: f('requests', { map: quantity }) }),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  20: f('terminationMessagePolicy', 'string'),
};
const podSpec: Schema = {
  2: f('containers', container, true),
  3: f('restartPolicy', 'string'),
  6: f('dnsPolicy', 'string'),
  7: f('nodeSelector', { map: 'string' }),
  8: f('serviceAccountName', 'string'),
  10: f('nodeName', 'string'),
  20: f('initContainers', container, true),
};
const podTemplate: Schema = { 1: f('metadata', objectMeta), 2: f('spec', podSpec) };

const KINDS: Record<string, Schema> = {
  Namespace: { 1: f('metadata', objectMeta), 2: f('spec', { 1: f('finalizers', 'string', true) }) },
  ConfigMap: { 1: f('metadata', objectMeta), 2: f('data', { map: 'string' }), 3: f('binaryData', { map: 'bytes' }), 4: f('immutable', 'bool') },
  Secret: {
    1: f('metadata', objectMeta),
    2: f('data', { map: 'bytes' }),
    3: f('type', 'string'),
    4: f('stringData', { map: 'string' }),
    5: f('immutable', 'bool'),
  },
  ServiceAccount: { 1: f('metadata', objectMeta), 3: f('imagePullSecrets', { 1: f('name', 'string') }, true), 4: f('automountServiceAccountToken', 'bool') },
  Pod: { 1: f('metadata', objectMeta), 2: f('spec', podSpec) },
  Service: {
    1: f('metadata', objectMeta),
    2: f('spec', {
      1: f('ports', { 1: f('name', 'string'), 2: f('protocol', 'string'), 3: f('port', 'int'), 4: f('targetPort', 'intOrString'), 5: f('nodePort', 'int') }, true),
      2: f('selector', { map: 'string' }),
      3: f('clusterIP', 'string'),
      4: f('type', 'string'),
      5: f('externalIPs', 'string', true),
      7: f('sessionAffinity', 'string'),
      10: f('externalName', 'string'),
    }),
  },
  Deployment: {
    1: f('metadata', objectMeta),
    2: f('spec', {
      1: f('replicas', 'intPtr'),
      2: f('selector', labelSelector),
      3: f('template', podTemplate),
      4: f('strategy', { 1: f('type', 'string') }),
      5: f('minReadySeconds', 'int'),
      6: f('revisionHistoryLimit', 'intPtr'),
      7: f('paused', 'bool'),
      9: f('progressDeadlineSeconds', 'intPtr'),
    }),
  },
};

export const PROTOBUF_KINDS = Object.keys(KINDS);

type Field = { no: number; wire: number; varint?: number; bytes?: Uint8Array };

function readFields(buf: Uint8Array): Field[] | string {
  const out: Field[] = [];
  let i = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (i >= buf.length) return undefined;
      const b = buf[i++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    return undefined;
  };
  while (i < buf.length) {
    const tag = varint();
    if (tag === undefined) return 'truncated field tag';
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (v === undefined) return `truncated varint in field ${no}`;
      out.push({ no, wire, varint: v });
    } else if (wire === 2) {
      const len = varint();
      if (len === undefined || i + len > buf.length) return `truncated bytes in field ${no}`;
      out.push({ no, wire, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return `unsupported wire type ${wire} in field ${no}`;
  }
  return out;
}

/** Go encodes int32 -1 as a 10-byte varint of 2^64-1. */
const toInt = (v: number) => (v >= 2 ** 63 ? v - 2 ** 64 : v);

function decodeValue(type: FieldType, fld: Field): unknown | { error: string } {
  if (type === 'int' || type === 'intPtr') return toInt(fld.varint ?? 0);
  if (type === 'bool') return (fld.varint ?? 0) !== 0;
  const bytes = fld.bytes ?? new Uint8Array();
  if (type === 'string') return new TextDecoder().decode(bytes);
  if (type === 'bytes') return Buffer.from(bytes).toString('base64');
  if (type === 'intOrString') {
    const m = decodeMessage({ 1: f('type', 'int'), 2: f('intVal', 'int'), 3: f('strVal', 'string') }, bytes);
    if ('error' in m) return m;
    return m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
  }
  if (typeof type === 'object' && 'map' in type) {
    const entry = decodeMessage({ 1: f('key', 'string'), 2: f('value', type.map as FieldType) }, bytes);
    return entry;
  }
  return decodeMessage(type as Schema, bytes);
}

function decodeMessage(schema: Schema, buf: Uint8Array): Record<string, unknown> & { error?: string } {
  const fields = readFields(buf);
  if (typeof fields === 'string') return { error: fields };
  const out: Record<string, unknown> = {};
  for (const fld of fields) {
    const spec = schema[fld.no];
    if (!spec) continue;
    const v = decodeValue(spec.type, fld);
    if (typeof v === 'object' && v !== null && 'error' in v && typeof v.error === 'string') return { error: v.error };
    if (typeof spec.type === 'object' && 'map' in spec.type) {
      const e = v as { key?: string; value?: unknown };
      out[spec.name] ??= {};
      const m = out[spec.name] as Record<string, unknown>;
      m[e.key ?? ''] = e.value ?? (spec.type.map === 'string' || spec.type.map === 'bytes' ? '' : {});
    } else if (spec.repeated) {
      out[spec.name] ??= [];
      (out[spec.name] as unknown[]).push(v);
    }
    else if (v === '' || v === false || (v === 0 && spec.type === 'int')) continue;
    else out[spec.name] = v;
  }
  return out;
}

/** The JSON form of a protobuf-encoded object, or why it could not be read. */
export function decodeProtobufObject(body: Uint8Array): Record<string, unknown> | { error: string } {
  if (!(body[0] === 0x6b && body[1] === 0x38 && body[2] === 0x73 && body[3] === 0)) return { error: 'missing the k8s protobuf envelope' };
  const unknown = decodeMessage({ 1: f('typeMeta', { 1: f('apiVersion', 'string'), 2: f('kind', 'string') }), 2: f('raw', 'bytes') }, body.subarray(4));
  if (unknown.error) return { error: unknown.error };
  const tm = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const schema = tm.kind ? KINDS[tm.kind] : undefined;
  if (!schema) return { error: `the sandbox decodes protobuf only for ${PROTOBUF_KINDS.join(', ')}; got ${tm.kind ?? 'no kind'} (send JSON instead)` };
  const raw = Buffer.from(String(unknown.raw ?? ''), 'base64');
  const obj = decodeMessage(schema, raw);
  if (obj.error) return { error: obj.error };
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
}
