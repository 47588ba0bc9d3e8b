// deploy/install.sh: shellcheck-clean, fails clearly without its inputs, installs the manifest with real kubectl
// into the sandbox API server (twice: idempotent), and drives `helm upgrade --install` when helm is chosen.
import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { tempDir } from '../support/hub-agent.ts';
import { REPO } from './chart-support.ts';

const SCRIPT = join(REPO, 'deploy', 'install.sh');

async function install(env: Record<string, string>) {
  const p = Bun.spawn(['bash', SCRIPT], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdout: 'pipe', stderr: 'pipe' });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

describe('deploy/install.sh', () => {
  test('shellcheck (skipped with a message when shellcheck is not installed)', () => {
    const sc = Bun.which('shellcheck');
    if (!sc) {
      console.log('install-script.test.ts: shellcheck not installed; lint SKIPPED (.ci/run installs it)');
      return;
    }
    const r = Bun.spawnSync([sc, SCRIPT], { stdout: 'pipe', stderr: 'pipe' });
    expect(r.stdout.toString() + r.stderr.toString()).toBe('');
    expect(r.exitCode).toBe(0);
  });

  test('strict mode and idempotent commands', () => {
    const text = readFileSync(SCRIPT, 'utf8');
    expect(text).toContain('set -euo pipefail');
    expect(text).toContain('helm upgrade --install');
    expect(text).toContain('kubectl apply -f -');
  });

  test('missing inputs: exit 1, naming every missing variable', async () => {
    const r = await install({});
    expect(r.code).toBe(1);
    expect(r.err).toContain('missing required environment variable(s): PIPEOPS_TOKEN PIPEOPS_CLUSTER_NAME');
    const bad = await install({ PIPEOPS_TOKEN: 'tok"en', PIPEOPS_CLUSTER_NAME: 'c' });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('PIPEOPS_TOKEN contains characters');
    const url = await install({ PIPEOPS_TOKEN: 't', PIPEOPS_CLUSTER_NAME: 'c', PIPEOPS_API_URL: 'ftp://x' });
    expect(url.code).toBe(1);
    expect(url.err).toContain('PIPEOPS_API_URL must be');
  });

  test('helm method: upgrade --install with a private values file (token not on the command line)', async () => {
    const dir = tempDir('pipeops-install-helm-');
    const fakeHelm = join(dir, 'helm');
    // Records its arguments and the values file it was given.
    writeFileSync(fakeHelm, `#!/usr/bin/env bash\nprintf '%s\\n' "$@" > "${dir}/args"\nwhile [ $# -gt 0 ]; do if [ "$1" = --values ]; then cp "$2" "${dir}/values.yaml"; fi; shift; done\n`);
    chmodSync(fakeHelm, 0o755);
    const fakeKubectl = join(dir, 'kubectl');
    writeFileSync(fakeKubectl, '#!/usr/bin/env bash\nexit 0\n');
    chmodSync(fakeKubectl, 0o755);
    const r = await install({ PATH: `${dir}:${process.env.PATH}`, PIPEOPS_TOKEN: 'secret-agent-token', PIPEOPS_CLUSTER_NAME: 'prod-1', PIPEOPS_NAMESPACE: 'agents' });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const args = readFileSync(join(dir, 'args'), 'utf8').trim().split('\n');
    expect(args.slice(0, 4)).toEqual(['upgrade', '--install', 'pipeops-agent', join(REPO, 'deploy', 'helm', 'pipeops-agent')]);
    expect(args).toContain('--create-namespace');
    expect(args[args.indexOf('--namespace') + 1]).toBe('agents');
    expect(args.join(' ')).not.toContain('secret-agent-token');
    expect(parse(readFileSync(join(dir, 'values.yaml'), 'utf8'))).toEqual({
      token: 'secret-agent-token',
      config: { agent: { cluster_name: 'prod-1' }, pipeops: { api_url: 'https://api.pipeops.io' } },
    });
  });
});

describe.skipIf(!Bun.which('kubectl'))('deploy/install.sh with kubectl against the sandbox', () => {
  let sandbox: Sandbox;
  afterAll(() => sandbox?.close());

  test('applies deploy/agent.yaml with the values filled in; a second run changes nothing', async () => {
    const TOKEN = 'admin-token-for-install-test';
    sandbox = await startSandbox({ tls: 'generate', tokens: { [TOKEN]: { user: 'admin', rules: [{}] } } });
    const dir = tempDir('pipeops-install-');
    const kubeconfig = join(dir, 'kubeconfig');
    await sandbox.writeKubeconfig(kubeconfig, { token: TOKEN });
    const env = { KUBECONFIG: kubeconfig, PIPEOPS_INSTALL_METHOD: 'kubectl', PIPEOPS_TOKEN: 'agent.token-123', PIPEOPS_CLUSTER_NAME: '2024', PIPEOPS_API_URL: 'https://hub.example.com:8443' };
    const first = await install(env);
    expect({ code: first.code, err: first.err }).toEqual({ code: 0, err: '' });
    expect(first.out).toContain('deployment.apps/pipeops-agent created');
    const secret = sandbox.get('secrets', 'pipeops-system', 'pipeops-agent');
    // The API server folds stringData into data (the sandbox too, as a real one does).
    const sd = secret as { data?: Record<string, string>; stringData?: Record<string, string> } | undefined;
    expect(sd?.stringData).toBeUndefined();
    const token = Buffer.from(sd?.data?.token ?? '', 'base64').toString();
    expect(token).toBe('agent.token-123');
    const cm = sandbox.get('configmaps', 'pipeops-system', 'pipeops-agent-config');
    const cfg = parse((cm?.data as Record<string, string> | undefined)?.['config.yaml'] ?? '');
    // A numeric-looking name stays a string (quoted on substitution).
    expect(cfg.agent.cluster_name).toBe('2024');
    expect(cfg.pipeops.api_url).toBe('https://hub.example.com:8443');
    const second = await install(env);
    expect(second.code).toBe(0);
    // The Secret's stringData is re-sent by kubectl on every apply (folded into data by the server): `configured`, as
    // on a real apiserver. Everything else must be unchanged.
    expect(second.out.split('\n').filter((l) => l.includes('/') && !l.endsWith(' unchanged') && !l.startsWith('install.sh') && l !== 'secret/pipeops-agent configured')).toEqual([]);
  }, 60_000);
});
