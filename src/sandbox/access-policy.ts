// Bearer-token policies and the authorization decision, with the apiserver's exact 403 message shape.
import { createHash } from 'node:crypto';
import { type ApiError, apiError } from './api-status.ts';

/** Omitted fields mean "any". Resources: `pods`, `pods/exec`, `pods/*`, `deployments.apps`, `*`. */
export interface PolicyRule {
  verbs?: string[] | '*';
  resources?: string[] | '*';
  namespaces?: string[] | '*';
}
export type TokenPolicy = PolicyRule | PolicyRule[] | { user: string; rules: PolicyRule[] };

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface AuditEntry extends RequestAttributes {
  user: string;
  allowed: boolean;
}

export function policyUser(policy: TokenPolicy, token: string): string {
  if (!Array.isArray(policy) && 'rules' in policy) return policy.user;
  // Never the token itself: user names end up in messages and the audit log.
  return `sandbox:${createHash('sha256').update(token).digest('hex').slice(0, 8)}`;
}

function rulesOf(policy: TokenPolicy): PolicyRule[] {
  if (Array.isArray(policy)) return policy;
  if ('rules' in policy) return policy.rules;
  return [policy];
}

function matchesResource(entry: string, a: RequestAttributes): boolean {
  if (entry === '*') return true;
  const slash = entry.indexOf('/');
  const gr = slash >= 0 ? entry.slice(0, slash) : entry;
  const sub = slash >= 0 ? entry.slice(slash + 1) : undefined;
  const dot = gr.indexOf('.');
  const resource = dot >= 0 ? gr.slice(0, dot) : gr;
  const group = dot >= 0 ? gr.slice(dot + 1) : undefined;
  if (resource !== '*' && resource !== a.resource) return false;
  if (group !== undefined && group !== a.group) return false;
  if (sub === undefined) return a.subresource === undefined;
  return sub === '*' || sub === a.subresource;
}

function ruleAllows(r: PolicyRule, a: RequestAttributes): boolean {
  const verbs = r.verbs ?? '*';
  const resources = r.resources ?? '*';
  const namespaces = r.namespaces ?? '*';
  if (verbs !== '*' && !verbs.includes(a.verb) && !verbs.includes('*')) return false;
  if (resources !== '*' && !resources.some((e) => matchesResource(e, a))) return false;
  if (namespaces !== '*' && (a.namespace === undefined || !namespaces.includes(a.namespace))) return false;
  return true;
}

export function isAllowed(policy: TokenPolicy, a: RequestAttributes): boolean {
  return rulesOf(policy).some((r) => ruleAllows(r, a));
}

/** `pods "web-0" is forbidden: User "u" cannot get resource "pods/log" in API group "" in the namespace "default"` */
export function forbidden(user: string, a: RequestAttributes): ApiError {
  const gr = a.group ? `${a.resource}.${a.group}` : a.resource;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const subject = a.name ? `${gr} "${a.name}"` : gr;
  const scope = a.namespace !== undefined ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return apiError(
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${scope}`,
    { ...(a.name ? { name: a.name } : {}), group: a.group, kind: a.resource },
  );
}
