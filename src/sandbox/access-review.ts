// POST selfsubjectaccessreviews: evaluates the caller's own policy for the attributes asked about.
// kubectl sends protobuf for `auth can-i`; client libraries send JSON. The answer is always JSON.
import { type RequestAttributes, isAllowed, type TokenPolicy } from './access-policy.ts';
import { type ApiError, apiError, badRequest } from './api-status.ts';
import { isPlainObject, type KubeObject } from './kube-object.ts';
import { type AccessReviewSpec, decodeAccessReview, isProtobufEnvelope } from './ssar-protobuf.ts';

export function parseAccessReview(body: Buffer): AccessReviewSpec | ApiError {
  if (isProtobufEnvelope(body)) {
    const spec = decodeAccessReview(body);
    return typeof spec === 'string' ? badRequest(`could not decode SelfSubjectAccessReview: ${spec}`) : spec;
  }
  try {
    const obj = JSON.parse(body.toString('utf8')) as unknown;
    const spec = (isPlainObject(obj) && isPlainObject(obj.spec) ? obj.spec : {}) as AccessReviewSpec;
    if (!spec.resourceAttributes === !spec.nonResourceAttributes) {
      // The apiserver's own wording: it validates the internal type, whose kind is empty in the message and details.
      const detail = 'Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified';
      return apiError(422, 'Invalid', `.authorization.k8s.io "" is invalid: spec: ${detail}`, {
        group: 'authorization.k8s.io',
        causes: [{ reason: 'FieldValueInvalid', message: detail, field: 'spec' }],
      });
    }
    return spec;
  } catch (e) {
    return badRequest(`the request body could not be decoded: ${(e as Error).message}`);
  }
}

/** `policy` undefined = no tokens configured: everything is allowed. */
export function reviewAccess(spec: AccessReviewSpec, policy: TokenPolicy | undefined): KubeObject {
  const ra = spec.resourceAttributes;
  let allowed = true;
  if (ra && policy) {
    const attrs: RequestAttributes = {
      verb: ra.verb ?? '',
      group: ra.group ?? '',
      resource: ra.resource ?? '',
      ...(ra.subresource ? { subresource: ra.subresource } : {}),
      ...(ra.namespace ? { namespace: ra.namespace } : {}),
      ...(ra.name ? { name: ra.name } : {}),
    };
    allowed = isAllowed(policy, attrs);
  }
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    // No reason on denial: RBAC gives none either, and kubectl prints it after "no".
    status: { allowed },
  };
}
