// Rendering the Helm chart in tests: finds helm (PATH, $HELM, or the CI cache .ci/run fills), renders with values
// files and --set flags, and parses the manifest into objects. Tests skip with a visible message without helm.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO = join(import.meta.dir, '..', '..');
export const CHART = join(REPO, 'deploy', 'helm', 'pipeops-agent');
export const EXAMPLES = ['gateway-enabled', 'existing-secret', 'custom-rbac'] as const;
export const MANIFEST = join(REPO, 'deploy', 'agent.yaml');

/** Arguments that render deploy/agent.yaml: default values, placeholders the install script substitutes. */
export const MANIFEST_ARGS = [
  'template',
  'pipeops-agent',
  CHART,
  '--namespace',
  'pipeops-system',
  '--set',
  'token=__PIPEOPS_TOKEN__',
  '--set',
  'config.agent.cluster_name=__PIPEOPS_CLUSTER_NAME__',
  '--set',
  'config.pipeops.api_url=__PIPEOPS_API_URL__',
];

export function findHelm(): string | null {
  const candidates = [process.env.HELM, Bun.which('helm'), join(process.env.PIPEOPS_TOOLS_BIN ?? join(homedir(), '.cache', 'pipeops-tools', 'bin'), 'helm')];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

export const HELM = findHelm();
if (!HELM) console.log('test/packaging: helm not found (PATH, $HELM, ~/.cache/pipeops-tools/bin); chart tests are SKIPPED. .ci/run builds it.');

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
};

export function helm(args: string[]): { code: number; stdout: string; stderr: string } {
  if (!HELM) throw new Error('helm not available');
  const r = Bun.spawnSync([HELM, ...args], { cwd: REPO, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, HELM_CACHE_HOME: join(REPO, 'node_modules', '.cache', 'helm') } });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function parseManifest(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `helm template` with values files and --set pairs; throws with helm's message on failure. */
export function render(opts: { values?: string[]; set?: Record<string, string>; namespace?: string; release?: string } = {}): K8sObject[] {
  const args = ['template', opts.release ?? 'pipeops-agent', CHART, '--namespace', opts.namespace ?? 'pipeops-system'];
  for (const f of opts.values ?? []) args.push('-f', f);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set', `${k}=${v}`);
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return parseManifest(r.stdout);
}

export function find(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the rendered chart; have: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

export function examplePath(name: (typeof EXAMPLES)[number]): string {
  return join(CHART, 'examples', `${name}.yaml`);
}
