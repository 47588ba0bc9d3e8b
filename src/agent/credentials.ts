// Which ServiceAccount token the control plane gets at registration (protocol.md §9.6): the persisted token
// if still valid ▸ the configured `kubernetes.service_token` ▸ the mounted SA token ▸ the last one seen,
// unvalidated. "Valid" = a SelfSubjectAccessReview made with that token allows `create namespaces`.
import type { Logger } from '../log/logger.ts';

export interface TokenCandidates {
  persisted?: string;
  configured?: string;
  serviceAccount?: string;
  validate(token: string): Promise<boolean>;
  log: Logger;
}

export async function selectServiceToken(c: TokenCandidates): Promise<string> {
  const tried = new Set<string>();
  const order: [string, string | undefined][] = [
    ['persisted', c.persisted],
    ['configured', c.configured],
    ['service_account', c.serviceAccount],
  ];
  let last = '';
  for (const [source, token] of order) {
    if (!token || tried.has(token)) continue;
    tried.add(token);
    last = token;
    let ok = false;
    try {
      ok = await c.validate(token);
    } catch (e) {
      c.log.warn({ source, err: (e as Error).message }, 'could not validate a Kubernetes token');
    }
    if (ok) {
      c.log.info({ source }, 'Kubernetes token for the control plane selected');
      return token;
    }
    c.log.warn({ source }, 'Kubernetes token does not allow create namespaces; trying the next one');
  }
  if (last) c.log.warn('no Kubernetes token passed validation; sending the last candidate unvalidated');
  return last;
}
