// `npm run lint`: the project's lint, on pinned tools only. (Biome's platform packages are not all on the
// registry mirror these machines use, which breaks `npm ci`; see the README.)
//  1. tsc with unused-code checks (tsconfig.lint.json);
//  2. source rules for what most often goes wrong here;
//  3. the directions of imports between our folders, and no import cycle (scripts/import-graph.ts).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { importCycles, importGraph, readSources } from './import-graph.ts';

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
  /** Lines that are only a comment are not checked (a comment may name `Bun.serve` to explain a choice). */
  codeOnly?: boolean;
}

const COMMENT_LINE = /^\s*(\/\/|\/\*|\*)/;

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
  // The runtime contract (src/runtime/types.ts) is the only door to Bun: the agent must also run on Deno (issue 16).
  // Exempt: src/runtime/ (the adapters themselves); scripts/, bench/, build/ and test/ are development tools that run on
  // Bun only (tests import bun:test; the Deno tier runs its tests through test/deno/). Nothing in src/, routes/ or workers/
  // is exempt: the hub's Bun-only server is src/runtime/bun/socket-server.ts. (`Bun.spawn` is no-child-process's.)
  { id: 'no-bun-outside-runtime', files: /^(src\/(?!runtime\/)|routes\/|workers\/)/, pattern: /\bBun\.(?!spawn(Sync)?\()|\bfrom\s+['"]bun(:[a-z]+)?['"]|['"]hono\/bun['"]|\bimport\(\s*['"]bun(:[a-z]+)?['"]/, message: 'Bun-only API outside src/runtime/: use the runtime contract (#runtime, src/runtime/types.ts)', codeOnly: true },
  // The agent reaches its runtime through `#runtime`, which the launcher resolves (Bun or Deno); importing the Bun
  // adapter directly would pin it to Bun. The hub is Bun-only (issue 16) and may use src/runtime/bun/ and sqlite.
  { id: 'runtime-through-contract', files: /^(src\/(?!runtime\/|hub\/)|routes\/|workers\/)/, pattern: /['"][./]*(src\/)?runtime\/(bun|deno)\/|['"][./]*(src\/)?runtime\/sqlite\.ts['"]/, message: 'import the runtime as #runtime (types from src/runtime/types.ts), not one implementation' },
  // The agent's client sockets need headers, TLS options and ping/pong, which differ per runtime (docs/runtimes.md).
  { id: 'websocket-through-runtime', files: /^(src\/(?!runtime\/|hub\/|sandbox\/|demo\/|realkube\/)|routes\/|workers\/)/, pattern: /\bnew WebSocket\(/, message: 'open client WebSockets with runtime.openWebSocket (#runtime): headers, TLS and ping/pong differ per runtime', codeOnly: true },
  // These test folders also run under `deno test` (the Deno tier, .ci/run): Deno has import.meta.dirname, not Bun's dir.
  { id: 'deno-tier-portable-tests', files: /^test\/(protocol|config|timing|runtime)\//, pattern: /\bimport\.meta\.dir\b(?!name)/, message: 'use import.meta.dirname: this folder runs under deno test too (Deno has no import.meta.dir)' },
  // prom-client's index loads its Pushgateway (node:http, node:https), Summary and cluster aggregator: ≈ 1 MiB of the
  // agent's idle RSS for code it never runs (src/agent/prom.ts). Types may still come from the index.
  { id: 'agent-prom-client-parts', files: /^(src\/(?!hub\/|agent\/prom\.ts$)|routes\/|workers\/)/, pattern: /^\s*import\s+(?!type\b)[^;]*['"]prom-client['"]|\bimport\(\s*['"]prom-client['"]/, message: 'the agent loads prom-client through src/agent/prom.ts (its parts), not its index', codeOnly: true },
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
    for (const r of RULES)
      if (r.files.test(rel) && !(r.codeOnly && COMMENT_LINE.test(l)) && r.pattern.test(l) && !l.includes(`lint-allow ${r.id}`))
        out.push({ file: rel, line: i + 1, rule: r.id, message: r.message });
  });
  return out;
}

/** One folder of ours must not import another: `from` files may import nothing under `to` but the `allow` prefixes. */
export interface DirectionRule {
  id: string;
  from: RegExp;
  to: RegExp;
  allow?: RegExp;
  why: string;
  /** Imports that break the rule today and are being moved by another branch: reported as warnings until then. */
  known?: ReadonlySet<string>;
}

export const DIRECTIONS: DirectionRule[] = [
  {
    id: 'workers-not-agent',
    from: /^src\/(tunnel|gateway|heartbeat)\//,
    to: /^src\/agent\//,
    why: 'the workers depend on the thread contracts in src/threads/, never on the main thread (src/agent/)',
  },
  {
    id: 'threads-neutral',
    from: /^src\/threads\//,
    to: /^(src\/(agent|tunnel|gateway|heartbeat|hub)\/|routes\/|workers\/)/,
    why: 'src/threads/ is the contract between the main thread and the workers: it depends on neither',
  },
  {
    id: 'hub-not-agent-wings',
    from: /^src\/hub\//,
    to: /^src\/(tunnel|gateway|agent|heartbeat)\//,
    why: 'the hub and the agent share only src/protocol/ (and neutral modules), never each other\'s wings',
  },
  {
    id: 'sandbox-not-hub',
    from: /^src\/sandbox\//,
    to: /^src\/(hub|tunnel|gateway|agent|heartbeat)\//,
    why: 'the sandbox stands in for Kubernetes: it knows nothing of the hub or the agent (route matching is src/ingress/)',
  },
  {
    id: 'runtime-leaf',
    from: /^src\/runtime\//,
    to: /^(src|routes|workers)\//,
    allow: /^src\/(runtime|log)\//,
    why: 'the runtime adapters import nothing of ours but the log module',
  },
];

/** Import-direction findings over a graph (`from` → imported files); known exceptions come back as warnings. */
export function checkDirections(graph: ReadonlyMap<string, readonly string[]>, rules: readonly DirectionRule[] = DIRECTIONS): Finding[] {
  const out: Finding[] = [];
  for (const [from, deps] of graph)
    for (const r of rules) {
      if (!r.from.test(from)) continue;
      for (const to of deps) {
        if (!r.to.test(to) || r.allow?.test(to)) continue;
        const edge = `${from} -> ${to}`;
        out.push({ file: from, line: 1, rule: r.id, message: `imports ${to}: ${r.why}${r.known?.has(edge) ? ' (known; being moved)' : ''}`, warn: r.known?.has(edge) });
      }
    }
  return out;
}

/** Every import cycle among our files, as findings (a cycle makes load order and ownership ambiguous). */
export function checkCycles(graph: ReadonlyMap<string, readonly string[]>): Finding[] {
  return importCycles(graph).map((c) => ({ file: c[0] as string, line: 1, rule: 'no-import-cycle', message: `import cycle: ${c.join(' -> ')}` }));
}

/** `#runtime` resolves to the Bun adapter for the graph (the Deno one exports the same names). */
export const GRAPH_ALIASES = { '#runtime': 'src/runtime/bun/index.ts' };

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
  const graph = importGraph(readSources(ROOT, ['src', 'routes', 'workers']), GRAPH_ALIASES);
  findings.push(...checkDirections(graph), ...checkCycles(graph));
  for (const f of findings) console.log(`${f.warn ? 'warning' : 'error'} ${f.file}:${f.line} [${f.rule}] ${f.message}`);
  const errors = findings.filter((f) => !f.warn).length;
  if (errors) failed = true;
  console.log(`lint: tsc ${tsc.exitCode === 0 ? 'clean' : 'FAILED'}, ${errors} error(s), ${findings.length - errors} warning(s)`);
  process.exit(failed ? 1 : 0);
}
