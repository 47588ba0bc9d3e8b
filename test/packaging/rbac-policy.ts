// Kubernetes RBAC rules (from the rendered chart) → sandbox token policies, and an exact RBAC evaluator for the
// sandbox's audit log. The sandbox policy has no resourceNames and treats a core-group entry as "any group", so it
// is a superset of the Role; `rbacAllows` applies the real rules (group, resourceNames, namespace) to every audited
// request, which is what the tests assert on.
import type { AuditEntry, PolicyRule } from '../../src/sandbox/index.ts';
import type { K8sObject } from './chart-support.ts';

export type RbacRule = { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[]; nonResourceURLs?: string[] };

/** A rule together with where it applies: a Role's namespace, or every namespace for a ClusterRole. */
export type ScopedRule = { source: string; index: number; namespace: string | '*'; rule: RbacRule };

export function scopedRules(role: K8sObject): ScopedRule[] {
  const rules = (role.rules as RbacRule[] | undefined) ?? [];
  const namespace = role.kind === 'Role' ? (role.metadata.namespace ?? 'default') : '*';
  return rules.map((rule, index) => ({ source: `${role.kind}/${role.metadata.name}`, index, namespace, rule }));
}

/** One sandbox policy rule per RBAC rule with resources: `resource[.group][/subresource]` entries. */
export function toSandboxPolicy(rules: ScopedRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const { rule, namespace } of rules) {
    if (!rule.resources || rule.resources.length === 0) continue; // non-resource URLs: the sandbox does not authorize them
    const resources: string[] = [];
    for (const g of rule.apiGroups ?? ['']) {
      for (const r of rule.resources) {
        const [res, sub] = r.split('/') as [string, string | undefined];
        const gr = g === '' || g === '*' ? res : `${res}.${g}`;
        resources.push(sub ? `${gr}/${sub}` : gr);
      }
    }
    out.push({ verbs: rule.verbs.includes('*') ? '*' : [...rule.verbs], resources, namespaces: namespace === '*' ? '*' : [namespace] });
  }
  return out;
}

/** Exactly Kubernetes' RBAC matching for one request against one rule. */
export function ruleMatches(s: ScopedRule, a: AuditEntry): boolean {
  const r = s.rule;
  if (!r.resources) return false;
  if (s.namespace !== '*' && a.namespace !== s.namespace) return false;
  if (!r.verbs.includes('*') && !r.verbs.includes(a.verb)) return false;
  const groups = r.apiGroups ?? [''];
  if (!groups.includes('*') && !groups.includes(a.group)) return false;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!r.resources.includes('*') && !r.resources.includes(full)) return false;
  if (r.resourceNames && r.resourceNames.length > 0) {
    // A create is authorized without a name (the authorizer never sees it), so resourceNames never allow create.
    if (!a.name || !r.resourceNames.includes(a.name)) return false;
  }
  return true;
}

export function rbacAllows(rules: ScopedRule[], a: AuditEntry): boolean {
  return rules.some((r) => ruleMatches(r, a));
}

export function describeRule(s: ScopedRule): string {
  const r = s.rule;
  const names = r.resourceNames ? ` names=${r.resourceNames.join(',')}` : '';
  return `${s.source}#${s.index} [${r.apiGroups?.map((g) => g || 'core').join(',')}] ${r.resources?.join(',')}${names} ${r.verbs.join(',')}`;
}

export function describeRequest(a: AuditEntry): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return `${a.verb} ${a.group || 'core'}/${res}${a.namespace ? ` ns=${a.namespace}` : ''}${a.name ? ` name=${a.name}` : ''}`;
}
