// The apiserver's validation of list and watch options (apimachinery's ValidateListOptions): resourceVersionMatch
// needs a resourceVersion, "Exact" is not for "0", sendInitialEvents is for watches and needs
// resourceVersionMatch=NotOlderThan. A refusal is 422 Invalid on `ListOptions.meta.k8s.io`, as on a real server.
import { type ApiError, apiError } from './api-status.ts';

interface Cause {
  reason: 'FieldValueForbidden' | 'FieldValueNotSupported';
  field: string;
  message: string;
}

const forbidden = (field: string, detail: string): Cause => ({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });
const notSupported = (field: string, value: string, supported: string[]): Cause => ({
  reason: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: "${value}": supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
});

export function validateListOptions(q: URLSearchParams, watch: boolean): ApiError | undefined {
  const rv = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const cont = q.get('continue') ?? '';
  const initialEvents = q.has('sendInitialEvents');
  const causes: Cause[] = [];
  if (watch) {
    if (initialEvents && match !== 'NotOlderThan') causes.push(forbidden('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'));
    if (match) {
      if (!initialEvents) causes.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'));
      if (match !== 'NotOlderThan') causes.push(notSupported('resourceVersionMatch', match, ['NotOlderThan']));
      if (cont) causes.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
    }
  } else {
    if (match) {
      if (!rv) causes.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
      if (cont) causes.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
      if (match === 'Exact' && rv === '0') causes.push(forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
      else if (match !== 'Exact' && match !== 'NotOlderThan') causes.push(notSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']));
    }
    if (initialEvents) causes.push(forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'));
  }
  if (causes.length === 0) return undefined;
  const text = causes.map((c) => `${c.field}: ${c.message}`);
  return apiError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`, {
    group: 'meta.k8s.io',
    kind: 'ListOptions',
    causes,
  });
}
