// What the agent learns once at startup for `register` (host, version, region, the ServiceAccount token to offer)
// and the two /api/health checks (control plane reachable, Kubernetes API answering). Split from run.ts.
import { connect } from 'node:net';
import type { Logger } from '../log/logger.ts';
import type { AgentConfig } from '../config/schema.ts';
import type { KubeClient } from '../kube/client.ts';
import { nodeFacts } from '../kube/cluster-info.ts';
import { hostFacts } from '../kube/host-facts.ts';
import { readServiceAccount } from '../kube/service-account.ts';
import { restBaseUrl } from '../protocol/session-urls.ts';
import type { PersistedState } from '../state/index.ts';
import { selectServiceToken } from './credentials.ts';
import type { CheckResult } from './http-types.ts';
import type { AgentStatus } from './status.ts';
import type { RegisterFacts } from '../threads/messages.ts';

export async function gatherRegisterFacts(cfg: AgentConfig, kube: KubeClient | null, state: PersistedState, log: Logger): Promise<RegisterFacts> {
  const host = hostFacts();
  const facts: RegisterFacts = {
    hostname: host.hostname,
    serverSpecs: host.server_specs,
    k8sVersion: 'unknown',
    region: 'unknown-country',
    cloudProvider: 'agent',
    serverIp: '0.0.0.0',
    serviceToken: '',
  };
  if (!kube) return facts;
  const [v, n] = await Promise.allSettled([kube.version(), nodeFacts(kube)]);
  if (v.status === 'fulfilled') facts.k8sVersion = v.value;
  else log.warn({ err: (v.reason as Error).message }, 'Kubernetes version unavailable at startup');
  if (n.status === 'fulfilled') {
    if (n.value.region) facts.region = n.value.region;
    if (n.value.cloudProvider) facts.cloudProvider = n.value.cloudProvider;
  }
  // Outside a cluster the credential the agent itself uses (the kubeconfig's token) is the candidate.
  let saToken: string | undefined = kube.target.source === 'in-cluster' ? undefined : kube.target.token?.();
  if (kube.target.source === 'in-cluster') {
    try {
      saToken = readServiceAccount(cfg.kubernetes.service_account_dir).token;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'ServiceAccount token unreadable');
    }
  }
  facts.serviceToken = await selectServiceToken({
    persisted: state.cluster_token,
    configured: cfg.kubernetes.service_token,
    serviceAccount: saToken,
    validate: (token) => kube.selfSubjectAccessReview({ verb: 'create', resource: 'namespaces' }, token),
    log,
  });
  return facts;
}

export async function checkControlPlane(apiUrl: string, status: AgentStatus): Promise<CheckResult> {
  const s = status.snapshot().connection;
  const u = new URL(restBaseUrl(apiUrl));
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  const t0 = performance.now();
  const reach = await new Promise<string | null>((resolve) => {
    const sock = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    const t = setTimeout(() => {
      sock.destroy();
      resolve('timed out');
    }, 4000);
    sock.once('connect', () => {
      clearTimeout(t);
      sock.end();
      resolve(null);
    });
    sock.once('error', (e) => {
      clearTimeout(t);
      resolve(e.message);
    });
  });
  const latencyMs = Math.round(performance.now() - t0);
  const session = `session ${s.state}${s.registered ? ', registered' : ', not registered'}${s.mode ? ` via ${s.mode}` : ''}`;
  if (reach) return { ok: false, latencyMs, detail: `${u.host} unreachable (${reach}); ${session}` };
  return { ok: s.state === 'connected' && s.registered, latencyMs, detail: `${u.host} reachable; ${session}` };
}

export async function checkKubernetes(kube: KubeClient | null): Promise<CheckResult> {
  if (!kube) return { ok: false, detail: 'no Kubernetes API configured' };
  const t0 = performance.now();
  try {
    const v = await kube.version();
    return { ok: true, latencyMs: Math.round(performance.now() - t0), detail: `API server ${kube.target.server} answered ${v}` };
  } catch (e) {
    return { ok: false, latencyMs: Math.round(performance.now() - t0), detail: (e as Error).message };
  }
}
