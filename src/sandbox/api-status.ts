// Kubernetes `Status` failures as values: every error the server answers is one of these, never a bare string.
import type { KubeObject } from './kube-object.ts';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface ApiError {
  code: number;
  reason: string;
  message: string;
  details?: StatusDetails;
}

export function apiError(code: number, reason: string, message: string, details?: StatusDetails): ApiError {
  return { code, reason, message, ...(details ? { details } : {}) };
}

export function isApiError(v: unknown): v is ApiError {
  return typeof v === 'object' && v !== null && 'code' in v && 'reason' in v && 'message' in v && !('kind' in v);
}

export function statusObject(e: ApiError): KubeObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    ...(e.reason ? { reason: e.reason } : {}),
    // Go's omitempty: the core group ("") is absent from details on a real apiserver.
    ...(e.details ? { details: e.details.group === '' ? withoutGroup(e.details) : e.details } : {}),
    code: e.code,
  };
}

function withoutGroup(d: StatusDetails): StatusDetails {
  const { group: _group, ...rest } = d;
  return rest;
}

/** `pods "web-0"` or `pods.apps "x"`: how the apiserver names a resource in messages. */
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const notFound = (resource: string, group: string, name: string): ApiError =>
  apiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource });

export const alreadyExists = (resource: string, group: string, name: string): ApiError =>
  apiError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, {
    name,
    group,
    kind: resource,
  });

export const conflict = (resource: string, group: string, name: string): ApiError =>
  apiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: resource },
  );

export const invalid = (kind: string, group: string, name: string, field: string, detail: string): ApiError =>
  apiError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${detail}`, {
    name,
    group,
    kind,
    causes: [{ reason: 'FieldValueInvalid', message: detail, field }],
  });

export const badRequest = (message: string): ApiError => apiError(400, 'BadRequest', message);

export const unsupportedMediaType = (contentType: string, accepted: string[]): ApiError =>
  apiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format${contentType ? ` (${contentType})` : ''} - accepted media types include: ${accepted.join(', ')}`,
  );

export const pathNotFound = (): ApiError => apiError(404, 'NotFound', 'the server could not find the requested resource');

export const methodNotAllowed = (method: string): ApiError =>
  apiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);

export const unauthorized = (): ApiError => apiError(401, 'Unauthorized', 'Unauthorized');

export const expired = (requested: number, oldest: number): ApiError =>
  apiError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);

export const serviceUnavailable = (message: string): ApiError => apiError(503, 'ServiceUnavailable', message);

/** A LIST or watch at a resourceVersion the server has not reached within its wait (about 3 s on a real one). */
export const resourceVersionTooLarge = (requested: number, current: number): ApiError =>
  apiError(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
