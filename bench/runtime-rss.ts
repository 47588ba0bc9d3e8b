// Idle RSS and start-up of the agent under Bun and under Deno (issue 16), from source, in one run: the same hub and
// sandbox (Bun), the agent with all three workers, registered, /ready 200, then 5 s idle; runs alternate between
// the runtimes so machine load affects both alike. Optionally the compiled binary (--binary PATH) as a third row.
//   bun bench/runtime-rss.ts [--runs N] [--binary dist/pipeops-agent]
import { chmodSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { emptyDir, procStatus, startBinaryAgent, startBinaryHub, startBinarySandbox, waitRegistered } from '../scripts/binary-run.ts';

const ROOT = join(import.meta.dir, '..');
const arg = (k: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : undefined);
const runs = Number(arg('--runs') ?? 3);
const binaryArg = arg('--binary');
const binary = binaryArg ? resolve(binaryArg) : undefined;
const IDLE_MS = 5000;
const DENO = join(ROOT, 'node_modules/.bin/deno');

/** An executable that runs the CLI from source under a runtime (exec: the measured pid is the runtime's own). */
function launcher(dir: string, name: string, cmd: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\nexec ${cmd} "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

const dir = emptyDir('pipeops-rss-');
const bunCli = launcher(dir, 'bun-cli', `${process.execPath} ${join(ROOT, 'src/cli.ts')}`);
const denoCli = launcher(dir, 'deno-cli', `${DENO} run --allow-all --config ${join(ROOT, 'deno.json')} ${join(ROOT, 'src/cli.ts')}`);
const denoDir = process.env.DENO_DIR ?? join(process.env.HOME ?? dir, '.cache/deno');

async function once(agentBin: string): Promise<{ rssMiB: number; threads: number; readyMs: number }> {
  const hubDir = emptyDir();
  const agentDir = emptyDir();
  const hub = await startBinaryHub(bunCli, hubDir);
  const sandbox = await startBinarySandbox(bunCli, hubDir);
  try {
    const t0 = performance.now();
    const agent = await startBinaryAgent(agentBin, hub.url, {
      cwd: agentDir,
      stateFile: join(agentDir, 'state.yaml'),
      kubeconfig: sandbox.kubeconfig,
      env: { ENABLE_INGRESS_SYNC: 'true', PIPEOPS_HEARTBEAT_INTERVAL: '30s', DENO_DIR: denoDir },
    });
    try {
      await waitRegistered(hub.url, agent);
      const readyMs = Math.round(performance.now() - t0);
      await Bun.sleep(IDLE_MS); // the idle period being measured, not synchronisation
      const a = procStatus(agent.proc.pid);
      return { rssMiB: a.rssKiB / 1024, threads: a.threads, readyMs };
    } finally {
      await agent.stop();
    }
  } finally {
    await sandbox.stop();
    await hub.stop();
  }
}

const rows: [string, string][] = [
  [`Bun ${Bun.version} (bun run src/cli.ts)`, bunCli],
  [`Deno ${Bun.spawnSync([DENO, '--version']).stdout.toString().split(' ')[1]} (npm run agent:deno)`, denoCli],
  ...(binary ? [[`compiled binary (${binaryArg})`, binary] as [string, string]] : []),
];
const results = new Map<string, { rssMiB: number; threads: number; readyMs: number }[]>();
for (let i = 0; i < runs; i++) for (const [name, bin] of rows) results.set(name, [...(results.get(name) ?? []), await once(bin)]);

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(`agent idle RSS: registered, 3 workers, /ready 200, then ${IDLE_MS / 1000} s idle; ${runs} runs per runtime, alternating; ${navigator.hardwareConcurrency} cores\n`);
console.log('| agent runtime | idle RSS MiB, median (min–max) | threads | ready after ms, median |');
console.log('|---|---|---|---|');
for (const [name] of rows) {
  const r = results.get(name) ?? [];
  const rss = r.map((x) => x.rssMiB);
  console.log(`| ${name} | ${med(rss).toFixed(1)} (${Math.min(...rss).toFixed(1)}–${Math.max(...rss).toFixed(1)}) | ${med(r.map((x) => x.threads))} | ${med(r.map((x) => x.readyMs))} |`);
}
process.exit(0);
