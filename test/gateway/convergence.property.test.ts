// Property: whatever happens to Ingresses, Services, watches, the registry and the agent, once the sync is idle the
// registry holds exactly the routes of the managed Ingresses in the API server — computed here independently.
// This variant runs against the hostname-keyed fake registry; convergence-hub.property.test.ts against the real hub.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { expectedByHost, liveObjects, program, runOps } from './support/convergence.ts';
import { makeEnv } from './support/harness.ts';

async function run(ops: Parameters<typeof runOps>[1], refreshIntervalMs: number): Promise<void> {
  const env = await makeEnv();
  try {
    await runOps(env, ops, refreshIntervalMs, {
      registryFails: (n) => env.registry.failNext(n),
      async check(e) {
        expect(e.registry.snapshot()).toEqual(expectedByHost(...(await liveObjects(e))));
      },
    });
    if (process.env.CONVERGENCE_DEBUG) console.log(`hosts=${Object.keys(env.registry.snapshot()).length} calls=${env.registry.calls.length}`);
  } finally {
    await env.close();
  }
}

describe('route registry convergence', () => {
  test(
    'after any 200 operations the registry equals the managed routes',
    async () => {
      await fc.assert(
        fc.asyncProperty(program, fc.constantFrom(0, 0, 25), async (ops, refresh) => run(ops, refresh)),
        { numRuns: Number(process.env.CONVERGENCE_RUNS ?? 25), endOnFailure: false },
      );
    },
    120_000,
  );
});
