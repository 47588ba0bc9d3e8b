import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { importCycles, importGraph, importSpecifiers, readSources } from '../../scripts/import-graph.ts';
import { checkCycles, checkDirections, checkSource, DIRECTIONS, GRAPH_ALIASES } from '../../scripts/lint.ts';

test('lint rules catch what they name and nothing else', () => {
  expect(checkSource('src/x.ts', 'console.log(1)\n').map((f) => f.rule)).toEqual(['no-console-log']);
  expect(checkSource('test/x.test.ts', 'console.log(1)\n')).toEqual([]);
  expect(checkSource('test/x.test.ts', "test.only('a', () => {})\n").map((f) => f.rule)).toEqual(['no-focused-tests']); // lint-allow no-focused-tests
  expect(checkSource('src/utils.ts', 'export const a = 1;\n').map((f) => f.rule)).toEqual(['file-name']);
  expect(checkSource('test/k.test.ts', "Bun.spawnSync(['kubectl', 'get'])\n").map((f) => f.rule)).toEqual(['no-spawn-sync-kubectl']); // lint-allow no-spawn-sync-kubectl
  expect(checkSource('src/a.ts', 'const x = 1; // console.log( lint-allow no-console-log\n')).toEqual([]);
  expect(checkSource('src/t.ts', "import { execFile } from 'node:child_process';\n").map((f) => f.rule)).toEqual(['no-child-process']);
  expect(checkSource('workers/w.ts', "Bun.spawn(['openssl'])\n").map((f) => f.rule)).toEqual(['no-child-process']);
  expect(checkSource('scripts/s.ts', "Bun.spawnSync(['git'])\n")).toEqual([]);
  expect(checkSource('src/long.ts', 'x\n'.repeat(700))[0]?.warn).toBe(true);
});

test('no Bun API outside src/runtime/: Bun globals, bun: modules and hono/bun, but not comments', () => {
  const rule = (file: string, line: string) => checkSource(file, `${line}\n`).map((f) => f.rule);
  expect(rule('src/agent/a.ts', 'const s = Bun.serve({ fetch });')).toEqual(['no-bun-outside-runtime']);
  expect(rule('routes/r.ts', "import { upgradeWebSocket } from 'hono/bun';")).toEqual(['no-bun-outside-runtime']);
  expect(rule('src/hub/h.ts', "import type { Server } from 'bun';")).toEqual(['no-bun-outside-runtime']);
  expect(rule('workers/w.ts', "import { Database } from 'bun:sqlite';")).toEqual(['no-bun-outside-runtime']);
  expect(rule('src/tunnel/t.ts', "const jsc = await import('bun:jsc');")).toEqual(['no-bun-outside-runtime']);
  expect(rule('src/tunnel/t.ts', '// Bun.serve times SSE out after 10 s, so …')).toEqual([]);
  expect(rule('src/tunnel/t.ts', ' * Bun.gzipSync was measured at …')).toEqual([]);
  expect(rule('src/runtime/bun/index.ts', 'const v = Bun.version;')).toEqual([]);
  expect(rule('test/x.test.ts', 'Bun.gc(true);')).toEqual([]);
  expect(rule('src/tunnel/t.ts', 'const bunny = rabbit.Bun;')).toEqual([]);
});

test('the agent reaches the runtime as #runtime, never through one implementation; the hub may use the Bun one', () => {
  const rule = (file: string, line: string) => checkSource(file, `${line}\n`).map((f) => f.rule);
  expect(rule('src/tunnel/t.ts', "import { runtime } from '../runtime/bun/index.ts';")).toEqual(['runtime-through-contract']);
  expect(rule('workers/w.ts', "import { spawnWorker } from '../src/runtime/deno/workers.ts';")).toEqual(['runtime-through-contract']);
  expect(rule('src/agent/a.ts', "import { Database } from '../runtime/sqlite.ts';")).toEqual(['runtime-through-contract']);
  expect(rule('src/tunnel/t.ts', "import { runtime } from '#runtime';")).toEqual([]);
  expect(rule('src/tunnel/t.ts', "import type { ClientWebSocket } from '../runtime/types.ts';")).toEqual([]);
  expect(rule('src/hub/server.ts', "import { serveWithSockets } from '../runtime/bun/socket-server.ts';")).toEqual([]);
  expect(rule('src/tunnel/dial.ts', 'const ws = new WebSocket(url, { headers } as unknown as string[]);')).toEqual(['websocket-through-runtime']);
  expect(rule('src/runtime/bun/index.ts', 'const ws = new WebSocket(url);')).toEqual([]);
  expect(rule('src/sandbox/x.ts', 'const ws = new WebSocket(url);')).toEqual([]);
  expect(rule('test/protocol/p.test.ts', "const f = join(import.meta.dir, 'x');")).toEqual(['deno-tier-portable-tests']);
  expect(rule('test/protocol/p.test.ts', "const f = join(import.meta.dirname, 'x');")).toEqual([]);
  expect(rule('test/hub/h.test.ts', "const f = join(import.meta.dir, 'x');")).toEqual([]);
});

test('import specifiers: multi-line, type-only, re-exports and literal dynamic imports; packages are not edges', () => {
  const text = [
    "import {\n  a,\n  b,\n} from './a.ts';",
    "import type { T } from '../t/t.ts';",
    "export { x } from './x.ts';",
    "export type { Y } from './y.ts';",
    "import './side.ts';",
    "const m = await import('./lazy.ts');",
    "import { z } from 'zod';",
  ].join('\n');
  expect(importSpecifiers(text)).toEqual(['./a.ts', '../t/t.ts', './x.ts', './y.ts', './side.ts', './lazy.ts', 'zod']);
  const g = importGraph(
    new Map([
      ['src/p/main.ts', text],
      ['src/p/x.ts', ''],
      ['src/t/t.ts', "import { runtime } from '#runtime';"],
      ['src/runtime/bun/index.ts', ''],
    ]),
    { '#runtime': 'src/runtime/bun/index.ts' },
  );
  expect(g.get('src/p/main.ts')).toEqual(['src/t/t.ts', 'src/p/x.ts']);
  expect(g.get('src/t/t.ts')).toEqual(['src/runtime/bun/index.ts']);
});

test('cycles: every strongly connected group is reported once, a self-import too; a diamond is no cycle', () => {
  const g = new Map<string, string[]>([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', ['e', 'f']],
    ['e', ['g']],
    ['f', ['g']],
    ['g', []],
    ['s', ['s']],
  ]);
  expect(importCycles(g)).toEqual([['a', 'b', 'c'], ['s']]);
  expect(checkCycles(new Map([['d', ['e', 'f']], ['e', ['g']], ['f', ['g']], ['g', []]]))).toEqual([]);
});

test('direction rules: forbidden edges fail, allowed prefixes pass, known ones are warnings', () => {
  const g = new Map<string, string[]>([
    ['src/tunnel/session.ts', ['src/agent/metrics.ts', 'src/threads/messages.ts']],
    ['src/runtime/bun/index.ts', ['src/log/logger.ts', 'src/runtime/types.ts', 'src/threads/messages.ts']],
    ['src/sandbox/ingress-controller.ts', ['src/ingress/route-match.ts', 'src/hub/x.ts']],
    ['src/hub/routes/routes-api.ts', ['src/gateway/route-registry-messages.ts', 'src/protocol/route-registry.ts']],
  ]);
  expect(checkDirections(g).map((x) => `${x.rule} ${x.file}${x.warn ? ' (warn)' : ''}`)).toEqual([
    'workers-not-agent src/tunnel/session.ts',
    'runtime-leaf src/runtime/bun/index.ts',
    'sandbox-not-hub src/sandbox/ingress-controller.ts',
    'hub-not-agent-wings src/hub/routes/routes-api.ts',
  ]);
  // An edge listed as known (being moved by another branch) is reported as a warning, not an error.
  const known = DIRECTIONS.map((r) => (r.id === 'hub-not-agent-wings' ? { ...r, known: new Set(['src/hub/routes/routes-api.ts -> src/gateway/route-registry-messages.ts']) } : r));
  expect(checkDirections(g, known).filter((x) => x.warn).map((x) => x.file)).toEqual(['src/hub/routes/routes-api.ts']);
});

test('our own import graph (src/, routes/, workers/) has no cycle and breaks no direction rule', () => {
  const root = join(import.meta.dir, '../..');
  const graph = importGraph(readSources(root, ['src', 'routes', 'workers']), GRAPH_ALIASES);
  expect(graph.size).toBeGreaterThan(150);
  expect(importCycles(graph)).toEqual([]);
  expect(checkDirections(graph).filter((f) => !f.warn)).toEqual([]);
  // The cycle the threads move removed: the tunnel no longer reaches the agent's files at all.
  expect([...graph.entries()].filter(([f, deps]) => f.startsWith('src/tunnel/') && deps.some((d) => d.startsWith('src/agent/')))).toEqual([]);
});
