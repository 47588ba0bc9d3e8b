// `npm run lint`: the project's lint, on pinned tools only. (Biome's platform packages are not all on the
// registry mirror these machines use, which breaks `npm ci`; see the README.)
//  1. tsc with unused-code checks (tsconfig.lint.json);
//  2. source rules for what most often goes wrong here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const ROOT = join(import.meta.dir, '..');
const DIRS = ['src', 'routes', 'workers', 'test', 'bench', 'scripts', 'build'];
const MAX_LINES = 600;

interface Finding {
  file: string;
  line: number;
  rule: string;
  message: string;
  warn?: boolean;
}

export interface Rule {
  id: string;
  /** Applies to files whose repo-relative path matches. */
  files: RegExp;
  pattern: RegExp;
  message: string;
}

export const RULES: Rule[] = [
  { id: 'no-console-log', files: /^(src|routes|workers)\//, pattern: /\bconsole\.log\(/, message: 'use the pino logger (or process.stdout for CLI output), not console.log' },
  { id: 'no-debugger', files: /./, pattern: /^\s*debugger;?\s*$/, message: 'debugger statement' },
  { id: 'no-focused-tests', files: /^test\//, pattern: /\b(test|it|describe)\.only\(/, message: 'focused test (.only) would skip the rest of the suite' },
  { id: 'no-ts-ignore', files: /./, pattern: /@ts-ignore/, message: 'use @ts-expect-error with a reason instead of @ts-ignore' }, // lint-allow no-ts-ignore
  { id: 'no-spawn-sync-kubectl', files: /^test\//, pattern: /spawnSync\(\s*\[?\s*['"`][^'"`]*kubectl/, message: 'spawn kubectl asynchronously (spawnSync deadlocks against in-process servers)' },
  // The image has no programs besides ours (distroless): nothing at run time may depend on one (issue 18).
  // Exempt: src/realkube/, the development and test launcher of a real control plane (etcd, kube-apiserver, its
  // certificates via openssl), used by `demo --real` and test/real; and src/devstack/, the launcher of `demo --ha`
  // and the replica tests (PostgreSQL, HAProxy, hub and agent processes). Neither the agent nor the hub loads them.
  { id: 'no-child-process', files: /^(src\/(?!realkube\/|devstack\/)|routes\/|workers\/)/, pattern: /['"]node:child_process['"]|\bBun\.spawn(Sync)?\(|\bBun\.\$`/, message: 'no child processes at run time: the image has no programs to run' },
  { id: 'no-insecure-tls-env', files: /^(src|routes|workers)\//, pattern: /NODE_TLS_REJECT_UNAUTHORIZED/, message: 'never disable TLS verification globally' },
];

const BANNED_NAMES = new Set(['utils.ts', 'helpers.ts', 'common.ts']);

function* files(dir: string): Generator<string> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|tsx)$/.test(e)) yield p;
  }
}

export function checkSource(rel: string, text: string): Finding[] {
  const out: Finding[] = [];
  if (BANNED_NAMES.has(basename(rel))) out.push({ file: rel, line: 1, rule: 'file-name', message: 'name files for the one thing they hold (conventions)' });
  const lines = text.split('\n');
  if (lines.length > MAX_LINES && !rel.startsWith('test/'))
    out.push({ file: rel, line: 1, rule: 'file-length', message: `${lines.length} lines (> ${MAX_LINES}): split it by concept`, warn: true });
  lines.forEach((l, i) => {
    for (const r of RULES) if (r.files.test(rel) && r.pattern.test(l) && !l.includes(`lint-allow ${r.id}`)) out.push({ file: rel, line: i + 1, rule: r.id, message: r.message });
  });
  return out;
}

if (import.meta.main) {
  let failed = false;
  const tsc = Bun.spawnSync([join(ROOT, 'node_modules/.bin/tsc'), '--noEmit', '-p', join(ROOT, 'tsconfig.lint.json')], { stdout: 'pipe', stderr: 'pipe' });
  const tscOut = `${tsc.stdout}${tsc.stderr}`.trim();
  if (tsc.exitCode !== 0) {
    failed = true;
    console.log(tscOut);
  }
  const findings: Finding[] = [];
  for (const d of DIRS) for (const f of files(join(ROOT, d))) findings.push(...checkSource(relative(ROOT, f), readFileSync(f, 'utf8')));
  for (const f of findings) console.log(`${f.warn ? 'warning' : 'error'} ${f.file}:${f.line} [${f.rule}] ${f.message}`);
  const errors = findings.filter((f) => !f.warn).length;
  if (errors) failed = true;
  console.log(`lint: tsc ${tsc.exitCode === 0 ? 'clean' : 'FAILED'}, ${errors} error(s), ${findings.length - errors} warning(s)`);
  process.exit(failed ? 1 : 0);
}
