// The agent id (protocol §9.5): configured ▸ persisted ▸ derived from stable host facts, so a restarted agent on the
// same machine or Pod keeps its id even when state was lost. In a Pod upstream's derivation is unique (the Pod's
// uid and name are in it); outside one, every agent on a host shares the host facts, so the agent instance (cluster
// name, Kubernetes API server, state location) is added: two agents for different clusters never share an id.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';

export type IdentityFacts = {
  hostname?: string;
  machineId?: string;
  mac?: string;
  podUid?: string;
  podNamespace?: string;
  podName?: string;
  /** Outside a Pod only: what tells two agents on one host apart (cluster name, API server, state location). */
  instance?: string[];
};

/**
 * `agent-` + the first 16 hex chars of SHA-256 over the present facts joined by `|` (upstream's order). In a Pod
 * (POD_UID or POD_NAME known) exactly upstream's facts; outside one, the `instance` facts follow them.
 */
export function deriveAgentId(f: IdentityFacts): string {
  const inPod = Boolean(f.podUid || f.podName);
  const parts = [f.hostname, f.machineId, f.mac, f.podUid, f.podNamespace, f.podName, ...(inPod ? [] : (f.instance ?? []))].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  return `agent-${createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 16)}`;
}

export function resolveAgentId(opts: { configured?: string; persisted?: string; facts: IdentityFacts }): { id: string; source: 'configured' | 'persisted' | 'derived' } {
  const c = opts.configured?.trim();
  if (c) return { id: c, source: 'configured' };
  const p = opts.persisted?.trim();
  if (p) return { id: p, source: 'persisted' };
  return { id: deriveAgentId(opts.facts), source: 'derived' };
}

function firstLine(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** First non-loopback, non-zero MAC (interfaces in name order, so the choice is stable). */
export function firstMac(ifaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): string | undefined {
  for (const name of Object.keys(ifaces).sort()) {
    for (const a of ifaces[name] ?? []) {
      if (!a.internal && a.mac && a.mac !== '00:00:00:00:00:00') return a.mac;
    }
  }
  return undefined;
}

/**
 * Gathers the facts from the host and the Pod env (POD_UID, POD_NAMESPACE, POD_NAME from the downward API);
 * `instance` is used only outside a Pod (see deriveAgentId).
 */
export function gatherIdentityFacts(env: Record<string, string | undefined>, instance: string[] = []): IdentityFacts {
  const f: IdentityFacts = {};
  const set = <K extends Exclude<keyof IdentityFacts, 'instance'>>(k: K, v: string | undefined) => {
    if (v) f[k] = v;
  };
  set('hostname', hostname());
  set('machineId', firstLine('/etc/machine-id') ?? firstLine('/var/lib/dbus/machine-id'));
  set('mac', firstMac());
  set('podUid', env.POD_UID);
  set('podNamespace', env.POD_NAMESPACE);
  set('podName', env.POD_NAME);
  if (instance.length) f.instance = instance;
  return f;
}
