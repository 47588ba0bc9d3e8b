// What a real apiserver's validation refuses on a write, for the kinds clients of the sandbox write: object
// metadata (label keys and values, annotation keys), ConfigMap/Secret keys and `immutable`, Pod containers, Service
// ports, Ingress path types, Lease durations. Messages follow the apiserver's wording; a refusal is 422 Invalid
// with one cause per field. Kinds not listed here get metadata validation only (docs/sandbox-fidelity.md).
import type { ApiError } from './api-status.ts';
import { apiError } from './api-status.ts';
import { asArray, asRecord, isPlainObject, type KubeObject, metaOf } from './kube-object.ts';
import type { ResourceKind } from './resource-registry.ts';

interface Cause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueNotSupported';
  field: string;
  message: string;
}

const required = (field: string, detail = ''): Cause => ({ reason: 'FieldValueRequired', field, message: `Required value${detail ? `: ${detail}` : ''}` });
const invalidValue = (field: string, value: unknown, detail: string): Cause => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${typeof value === 'string' ? `"${value}"` : JSON.stringify(value)}: ${detail}`,
});
const forbiddenField = (field: string, detail: string): Cause => ({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** A label or annotation key: optional DNS-subdomain prefix, then a qualified name of at most 63 characters. */
function keyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0 && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return 'prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return undefined;
}

function metadataCauses(o: KubeObject): Cause[] {
  const m = metaOf(o);
  const out: Cause[] = [];
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    const bad = keyProblem(k);
    if (bad) out.push(invalidValue('metadata.labels', k, bad));
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      out.push(
        invalidValue(
          'metadata.labels',
          v,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
      );
    }
  }
  for (const k of Object.keys(m.annotations ?? {})) {
    const bad = keyProblem(k.toLowerCase());
    if (bad) out.push(invalidValue('metadata.annotations', k, bad));
  }
  return out;
}

function dataKeyCauses(o: KubeObject, fields: string[]): Cause[] {
  const out: Cause[] = [];
  for (const f of fields) {
    for (const k of Object.keys(asRecord(o[f]))) {
      if (!CONFIG_KEY.test(k) || k.length > 253) {
        out.push(invalidValue(`${f}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
      }
    }
  }
  return out;
}

function immutableCauses(o: KubeObject, old: KubeObject | undefined, fields: string[]): Cause[] {
  if (!old || old.immutable !== true) return [];
  const out: Cause[] = [];
  if (o.immutable !== true) out.push(forbiddenField('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) if (JSON.stringify(o[f] ?? {}) !== JSON.stringify(old[f] ?? {})) out.push(forbiddenField(f, 'field is immutable when `immutable` is set'));
  return out;
}

function podCauses(o: KubeObject): Cause[] {
  const spec = asRecord(o.spec);
  const containers = asArray(spec.containers);
  if (containers.length === 0) return [required('spec.containers')];
  const out: Cause[] = [];
  containers.forEach((c, i) => {
    const r = asRecord(c);
    if (!r.name) out.push(required(`spec.containers[${i}].name`));
    if (!r.image) out.push(required(`spec.containers[${i}].image`));
  });
  return out;
}

function serviceCauses(o: KubeObject): Cause[] {
  const spec = asRecord(o.spec);
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName' || spec.clusterIP === 'None') return [];
  const ports = asArray(spec.ports);
  if (ports.length === 0) return [required('spec.ports')];
  const out: Cause[] = [];
  ports.forEach((p, i) => {
    const port = asRecord(p).port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) out.push(invalidValue(`spec.ports[${i}].port`, port ?? 0, 'must be between 1 and 65535, inclusive'));
  });
  return out;
}

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

function ingressCauses(o: KubeObject): Cause[] {
  const out: Cause[] = [];
  asArray(asRecord(o.spec).rules).forEach((rule, i) => {
    asArray(asRecord(asRecord(rule).http).paths).forEach((p, j) => {
      const t = asRecord(p).pathType;
      const field = `spec.rules[${i}].http.paths[${j}].pathType`;
      if (t === undefined || t === '') out.push(required(field, 'pathType must be specified'));
      else if (!PATH_TYPES.includes(t as string)) out.push({ reason: 'FieldValueNotSupported', field, message: `Unsupported value: "${String(t)}": supported values: "Exact", "ImplementationSpecific", "Prefix"` });
    });
  });
  return out;
}

function leaseCauses(o: KubeObject): Cause[] {
  const spec = asRecord(o.spec);
  const out: Cause[] = [];
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && d !== null && (typeof d !== 'number' || d <= 0)) out.push(invalidValue('spec.leaseDurationSeconds', d, 'must be greater than 0'));
  const t = spec.leaseTransitions;
  if (t !== undefined && t !== null && (typeof t !== 'number' || t < 0)) out.push(invalidValue('spec.leaseTransitions', t, 'must be greater than or equal to 0'));
  return out;
}

type KindCheck = (o: KubeObject, old: KubeObject | undefined) => Cause[];

const CHECKS: Record<string, KindCheck> = {
  '/configmaps': (o, old) => [...dataKeyCauses(o, ['data', 'binaryData']), ...immutableCauses(o, old, ['data', 'binaryData'])],
  '/secrets': (o, old) => [...dataKeyCauses(o, ['data']), ...immutableCauses(o, old, ['data'])],
  '/pods': (o) => podCauses(o),
  '/services': (o) => serviceCauses(o),
  'networking.k8s.io/ingresses': (o) => ingressCauses(o),
  'coordination.k8s.io/leases': (o) => leaseCauses(o),
};

/**
 * The 422 a real apiserver answers for this create (`old` undefined) or update, or undefined. Only the HTTP write
 * path validates: `sandbox.apply()` is the programmatic path of tests and the demo and stays unchecked.
 */
export function validateWrite(k: ResourceKind, o: KubeObject, old?: KubeObject): ApiError | undefined {
  if (!isPlainObject(o)) return undefined;
  const causes = [...metadataCauses(o), ...(CHECKS[`${k.group}/${k.resource}`]?.(o, old) ?? [])];
  if (causes.length === 0) return undefined;
  const name = metaOf(o).name ?? '';
  const qualifiedKind = k.group ? `${k.kind}.${k.group}` : k.kind;
  const text = causes.map((c) => `${c.field}: ${c.message}`);
  return apiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`, {
    name,
    group: k.group,
    kind: k.kind,
    causes,
  });
}

/** Kinds whose PUT creates a missing object (the apiserver's AllowCreateOnUpdate): leader-election Leases above all. */
const CREATE_ON_UPDATE = new Set(['coordination.k8s.io/leases', '/endpoints', '/events', 'events.k8s.io/events']);

export function createsOnUpdate(k: ResourceKind): boolean {
  return CREATE_ON_UPDATE.has(`${k.group}/${k.resource}`);
}

/**
 * Kinds whose DELETE answers with the object (graceful deletion or finalizers: Pods, Services, Namespaces); every
 * other kind answers a `Status` of `Success`, as the generic registry does.
 */
const DELETE_RETURNS_OBJECT = new Set(['/pods', '/services', '/namespaces']);

export function deleteReturnsObject(k: ResourceKind, obj: KubeObject): boolean {
  return DELETE_RETURNS_OBJECT.has(`${k.group}/${k.resource}`) || asArray(metaOf(obj).finalizers).length > 0;
}

/**
 * What the apiserver does to an accepted write before storing it: a Secret's `stringData` is merged into `data`
 * (base64) and dropped, so a client reading the object back sees `data` only.
 */
export function admitWrite(k: ResourceKind, o: KubeObject): void {
  if (k.group === '' && k.resource === 'secrets' && isPlainObject(o.stringData)) {
    const data = isPlainObject(o.data) ? o.data : {};
    for (const [key, v] of Object.entries(o.stringData)) data[key] = Buffer.from(String(v), 'utf8').toString('base64');
    o.data = data;
    delete o.stringData;
  }
}
