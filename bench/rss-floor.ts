// Bun's own RSS floor for a thread layout (issue 14): a compiled binary, built with the agent's flags (scripts/build.ts),
// whose main thread starts N workers that do nothing; RSS after 4 s idle, with the resident text (the binary's code
// pages) and anonymous memory (heaps, stacks) apart. Compare with the agent's idle RSS for the same number of workers.
//   bun bench/rss-floor.ts [--workers 0,1,2,3] [--runs 3]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emptyDir } from '../scripts/binary-run.ts';

const arg = (k: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : undefined);
const layouts = (arg('--workers') ?? '0,1,2,3').split(',').map(Number);
const runs = Number(arg('--runs') ?? 3);
const IDLE_MS = 4000;

const dir = emptyDir('pipeops-floor-');
mkdirSync(join(dir, 'workers'));
writeFileSync(join(dir, 'main.ts'), `for (let i = 0; i < Number(process.env.N); i++) new Worker(new URL('./workers/idle.ts', import.meta.url).href);\nsetInterval(() => {}, 1000);\n`);
writeFileSync(join(dir, 'workers/idle.ts'), 'setInterval(() => {}, 1000);\n');
const outfile = join(dir, 'floor');
const r = await Bun.build({ entrypoints: [join(dir, 'main.ts'), join(dir, 'workers/idle.ts')], root: dir, compile: { outfile }, splitting: true, minify: true, bytecode: true, format: 'esm' });
if (!r.success) throw new Error(r.logs.join('\n'));

/** RSS, resident text of the binary and anonymous RSS, MiB, from /proc/<pid>/smaps. */
function measure(pid: number): { rss: number; text: number; anon: number } {
  let text = 0;
  let anon = 0;
  let kind = '';
  for (const l of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l);
    if (h) kind = h[2] === '' ? 'anon' : h[2] === outfile && h[1]!.includes('x') ? 'text' : '';
    const m = /^Rss:\s+(\d+)/.exec(l);
    if (m && kind === 'text') text += Number(m[1]);
    if (m && kind === 'anon') anon += Number(m[1]);
  }
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return { rss: rss / 1024, text: text / 1024, anon: anon / 1024 };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`Bun ${Bun.version}, compiled (minify, bytecode, splitting), ${IDLE_MS / 1000} s idle, ${runs} runs, median (min–max)\n`);
console.log('| workers | RSS MiB | resident text MiB | anonymous MiB |');
console.log('|---|---|---|---|');
for (const n of layouts) {
  const ms: ReturnType<typeof measure>[] = [];
  for (let i = 0; i < runs; i++) {
    const p = Bun.spawn([outfile], { env: { N: String(n) }, stdout: 'ignore', stderr: 'inherit' });
    await Bun.sleep(IDLE_MS); // the idle period being measured
    ms.push(measure(p.pid));
    p.kill();
    await p.exited;
  }
  const col = (k: 'rss' | 'text' | 'anon') => `${med(ms.map((m) => m[k])).toFixed(1)} (${Math.min(...ms.map((m) => m[k])).toFixed(1)}–${Math.max(...ms.map((m) => m[k])).toFixed(1)})`;
  console.log(`| ${n} | ${col('rss')} | ${col('text')} | ${col('anon')} |`);
}
