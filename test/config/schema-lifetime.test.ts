// The config schema (thousands of zod objects and closures) is needed while the configuration loads, not after:
// nothing may keep it once a load is done, so the agent's idle heap does not carry it (docs/benchmarks.md, Memory).
import { expect, test } from 'bun:test';
import { runtime } from '#runtime';
import { agentLeaves } from '../../src/config/leaves.ts';
import { loadConfig } from '../../src/config/load.ts';
import { agentConfigSchema } from '../../src/config/schema.ts';

const ENV = { PIPEOPS_API_URL: 'https://api.example.test', PIPEOPS_TOKEN: 'tok_0123456789abcdefghij', PIPEOPS_CLUSTER_NAME: 'c1' };

/** Loads a configuration and returns weak references to the schema and the leaf index that load used. */
function loadAndWatch(): { schema: WeakRef<object>; index: WeakRef<object>; port: number } {
  const index = agentLeaves();
  const schema = agentConfigSchema();
  expect(index.schema).toBe(schema); // one instance while anything holds it
  const r = loadConfig({ argv: [], env: ENV, cwd: '/work', home: '/home/u', searchPaths: [], readFile: () => null });
  if (!r.ok) throw new Error(r.message);
  return { schema: new WeakRef(schema), index: new WeakRef(index), port: r.config.agent.port };
}

// Deno collects only with --v8-flags=--expose-gc (the runtime's collectGarbage is then a no-op): nothing to observe.
const canCollect = runtime.name === 'bun' || typeof (globalThis as { gc?: unknown }).gc === 'function';

test.skipIf(!canCollect)('a configuration load leaves neither the schema nor its leaf index on the heap (needs a collector to call: Bun, or Deno with --v8-flags=--expose-gc)', async () => {
  const w = loadAndWatch();
  expect(w.port).toBeGreaterThanOrEqual(0);
  // A WeakRef's target stays alive until the current job ends; then a full collection may clear it. The collector
  // scans stacks conservatively, so a stale pointer can keep an object for one more cycle: a few cycles at most.
  for (let i = 0; i < 10 && (w.schema.deref() || w.index.deref()); i++) {
    await new Promise((resolve) => setImmediate(resolve));
    runtime.collectGarbage();
  }
  expect(w.schema.deref()).toBeUndefined();
  expect(w.index.deref()).toBeUndefined();
});

test('a new load after the collection builds the schema again and still works', () => {
  const r = loadConfig({ argv: ['--port', '1234'], env: ENV, cwd: '/work', home: '/home/u', searchPaths: [], readFile: () => null });
  if (!r.ok) throw new Error(r.message);
  expect(r.config.agent.port).toBe(1234);
  expect(r.sources['agent.port']).toEqual({ kind: 'flag', name: '--port' });
});
