// KubeTarget ↔ KubeAccess: workers cannot receive functions, so the token getter crosses threads as data
// (a static token or the token file to re-read) and is rebuilt on the other side.
import type { KubeTarget } from '../kube/target.ts';
import { tokenFileReader } from '../kube/token-file.ts';
import type { KubeAccess } from './messages.ts';

export function toKubeAccess(t: KubeTarget): KubeAccess {
  return {
    server: t.server,
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    insecureSkipVerify: t.insecureSkipVerify,
    token: t.tokenFile ? undefined : t.token?.(),
    tokenFile: t.tokenFile,
    inCluster: t.source === 'in-cluster',
  };
}

export function fromKubeAccess(a: KubeAccess): KubeTarget {
  const token = a.tokenFile ? tokenFileReader(a.tokenFile) : a.token ? () => a.token : undefined;
  return {
    server: a.server,
    ca: a.ca,
    cert: a.cert,
    key: a.key,
    insecureSkipVerify: a.insecureSkipVerify,
    token,
    tokenFile: a.tokenFile,
    source: a.inCluster ? 'in-cluster' : 'explicit',
  };
}
