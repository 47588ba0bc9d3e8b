// Renders a kubeconfig for the sandbox (CA data when TLS is on) that kubectl and client-node load unmodified.
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  token?: string;
  namespace?: string;
}

export function renderKubeconfig(server: string, caPem: string | undefined, opts: KubeconfigOptions = {}): string {
  const cluster: Record<string, unknown> = { server };
  if (caPem) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
  else if (server.startsWith('http:')) cluster['insecure-skip-tls-verify'] = true; // client-node refuses http: otherwise
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster }],
    users: [{ name: 'sandbox', user: opts.token ? { token: opts.token } : {} }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'sandbox', namespace: opts.namespace ?? 'default' } }],
    'current-context': 'sandbox',
    preferences: {},
  });
}
