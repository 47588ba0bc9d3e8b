// zod's own code generation (`new Function` per object schema on its first parse) is off in every thread of the
// binary: src/config/zod-jitless.ts, imported first by each entrypoint. zod reads the setting when a schema is made,
// so the import order is part of the contract (docs/benchmarks.md, tenth round).
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dir, '../..');

/** In a fresh process: how many times `new Function` ran while the agent's configuration was built and loaded. */
async function functionConstructs(withJitless: boolean): Promise<number> {
  const script = `
    let n = 0;
    const F = globalThis.Function;
    globalThis.Function = new Proxy(F, { construct(t, a) { n++; return Reflect.construct(t, a); } });
    ${withJitless ? `await import(${JSON.stringify(join(ROOT, 'src/config/zod-jitless.ts'))});` : ''}
    const { loadConfig } = await import(${JSON.stringify(join(ROOT, 'src/config/load.ts'))});
    const r = loadConfig({ argv: [], env: { PIPEOPS_TOKEN: 'a'.repeat(24), PIPEOPS_API_URL: 'https://api.example.com', PIPEOPS_CLUSTER_NAME: 'c' }, cwd: '/nonexistent', home: '/nonexistent' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    console.log(n);
  `;
  const p = Bun.spawn([process.execPath, '-e', script], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
  return Number(out.trim());
}

describe('zod without code generation', () => {
  test('loading the configuration compiles no code after zod-jitless.ts (and does without it: the probe sees it)', async () => {
    const [jitless, jit] = await Promise.all([functionConstructs(true), functionConstructs(false)]);
    expect(jit).toBeGreaterThan(0);
    expect(jitless).toBe(0);
  });

  test('every entrypoint imports zod-jitless.ts before any other module of ours', () => {
    const entrypoints = ['src/cli.ts', ...readdirSync(join(ROOT, 'workers')).filter((f) => f.endsWith('.ts')).map((f) => `workers/${f}`)];
    expect(entrypoints.length).toBeGreaterThan(2);
    for (const e of entrypoints) {
      const imports = [...readFileSync(join(ROOT, e), 'utf8').matchAll(/^import\s+(?:[^'"]*from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      // reflect-metadata (a polyfill, no schemas) may come first in the CLI; then ours.
      const first = imports.filter((i) => i !== 'reflect-metadata')[0];
      expect({ entrypoint: e, first }).toEqual({ entrypoint: e, first: expect.stringMatching(/config\/zod-jitless\.ts$/) });
    }
  });
});
