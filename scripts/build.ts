// `npm run build`: the single compiled binary dist/pipeops-agent (CLI + every worker as an entrypoint, bun-notes §3),
// then its size and the idle RSS of a hub + agent started from it (both workers running: tunnel with the heartbeat, ingress).
// Flags: --no-measure (build only), --measure-only (measure an existing binary).
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { undiciShim } from '../build/undici-plugin.ts';
import { measureIdleRss, RSS_TARGET_MIB } from './binary-run.ts';

const root = resolve(import.meta.dir, '..');
const outfile = join(root, 'dist/pipeops-agent');
const args = new Set(process.argv.slice(2));

function gitCommit(): string {
  try {
    const r = Bun.spawnSync(['git', 'rev-parse', '--short=12', 'HEAD'], { cwd: root, stdout: 'pipe', stderr: 'ignore' });
    const sha = r.exitCode === 0 ? r.stdout.toString().trim() : '';
    if (!sha) return 'unknown';
    const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--untracked-files=no'], { cwd: root, stdout: 'pipe' }).stdout.toString().trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown'; // no git (e.g. the container build context excludes .git)
  }
}

async function build(): Promise<void> {
  // Every worker file must be an entrypoint, or `new Worker()` fails at runtime inside the binary.
  const workers = readdirSync(join(root, 'workers'))
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => `./workers/${f}`);
  const entrypoints = ['./src/cli.ts', ...workers];
  const commit = process.env.PIPEOPS_BUILD_COMMIT || gitCommit();
  const date = process.env.PIPEOPS_BUILD_DATE || new Date().toISOString();
  const t0 = performance.now();
  const r = await Bun.build({
    entrypoints: entrypoints.map((e) => join(root, e)),
    root,
    compile: { outfile },
    // Code splitting: the hub, demo and sandbox (loaded with import() only for those commands) become chunks that
    // the agent never loads, and what the CLI and the workers share is embedded once. Without it every module of
    // the bundle is instantiated at start-up (the top-level functions of lazily-imported modules too): idle RSS
    // +4.5 MiB (docs/benchmarks.md, Memory).
    splitting: true,
    minify: true,
    bytecode: true,
    format: 'esm', // --bytecode needs ESM: the CLI has top-level await
    sourcemap: 'linked', // embedded for stack traces; the .map files next to the binary are not shipped
    plugins: [undiciShim],
    define: {
      PIPEOPS_BUILD_COMMIT: JSON.stringify(commit),
      PIPEOPS_BUILD_DATE: JSON.stringify(date),
    },
  });
  if (!r.success) {
    for (const l of r.logs) console.error(l);
    process.exit(1);
  }
  // The maps are only useful beside the source tree; keep dist/ to the one file that ships.
  for (const f of readdirSync(join(root, 'dist'))) if (f.endsWith('.map')) rmSync(join(root, 'dist', f));
  const size = statSync(outfile).size;
  console.log(`built ${outfile} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`  entrypoints: ${entrypoints.join(', ')}`);
  console.log(`  commit ${commit}, date ${date}`);
  console.log(`  binary size: ${size.toLocaleString('en-US')} B (${(size / 1024 / 1024).toFixed(1)} MiB)`);
}

if (!args.has('--measure-only')) await build();
if (!args.has('--no-measure')) {
  const m = await measureIdleRss(outfile);
  const verdict = m.rssMiB <= RSS_TARGET_MIB ? 'within target' : 'OVER TARGET (not failing the build)';
  console.log(
    `  idle RSS (agent, tunnel + ingress workers, registered, /ready 200, ${m.idleMs / 1000} s idle): ${m.rssMiB.toFixed(1)} MiB; target ≤ ${RSS_TARGET_MIB} MiB: ${verdict}`,
  );
  console.log(`  threads: ${m.threads}; hub RSS ${m.hubRssMiB.toFixed(1)} MiB; agent ready after ${m.readyMs} ms`);
}
