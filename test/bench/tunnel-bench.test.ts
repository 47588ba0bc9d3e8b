// bench/tunnel.ts --smoke: every figure of the result object is produced, with the right type. Timings are not
// asserted (house rule: performance is measured by bench/ scripts, never by unit tests).
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BEGIN, END, renderSection, spliceSection } from '../../scripts/bench-docs.ts';

const ROOT = join(import.meta.dir, '..', '..');
// The bench module's key list, read without running the bench (importing it would start processes only under
// import.meta.main, but keep the test independent of that detail).
const KEYS = [...readFileSync(join(ROOT, 'bench/tunnel.ts'), 'utf8').matchAll(/^ {2}'([a-z0-9_]+)',$/gm)].map((m) => m[1]!);

const REQUIRED = [
  'small_p50_idle_ms',
  'small_p99_idle_ms',
  'small_p50_during_limited_bulk_ms',
  'small_p99_during_limited_bulk_ms',
  'small_p50_during_bulk_ms',
  'small_p99_during_bulk_ms',
  'direct_small_p50_during_bulk_ms',
  'direct_small_p99_during_bulk_ms',
  'bulk_mib_s',
  'bulk_direct_mib_s',
  'c64_rps',
  'c64_direct_rps',
  'c1_p50_overhead_ms',
  'agent_cpu_us_per_req',
  'hub_cpu_us_per_req',
  'agent_rss_idle_mib',
  'agent_rss_peak_mib',
  'agent_rss_after_mib',
];

describe('bench/tunnel.ts', () => {
  test('the key list names every figure issue 14 asks for', () => {
    for (const k of REQUIRED) expect(KEYS).toContain(k);
  });

  test('--smoke writes one JSON object with every figure as a number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    try {
      const out = join(dir, 'r.json');
      const p = Bun.spawn([process.execPath, join(ROOT, 'bench/tunnel.ts'), '--smoke', '--agent-env', 'BENCH_PROBE=a=b,BENCH_PROBE2=', '--json', out], { stdout: 'ignore', stderr: 'pipe', cwd: ROOT });
      const err = await new Response(p.stderr).text();
      expect({ code: await p.exited, err }).toEqual({ code: 0, err: expect.any(String) });
      const r = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
      for (const k of KEYS) {
        // Every measured figure exists and is finite (NaN would be null in JSON); the key goes into the comparison
        // so that a failure names it. The full-speed phase waits for a whole transfer, so its throughput is defined.
        expect({ k, type: typeof r[k], finite: Number.isFinite(r[k] as number) }).toEqual({ k, type: 'number', finite: true });
      }
      expect(r.errors).toBe(0);
      for (const k of ['agent_rss_idle_mib', 'agent_rss_peak_mib', 'agent_rss_after_mib', 'c64_rps', 'c64_direct_rps', 'bulk_mib_s', 'bulk_direct_mib_s'])
        expect(r[k] as number).toBeGreaterThan(0);
      expect(r.agent_rss_peak_mib as number).toBeGreaterThanOrEqual(r.agent_rss_idle_mib as number);
      expect(Array.isArray(r.load_avg_start)).toBe(true);
      expect(r.rounds).toBe(1);
      expect(typeof r.ranges).toBe('object');
      // --agent-env: split at the first '=' only, an empty value kept; recorded with the result.
      expect(r.agent_env).toEqual({ BENCH_PROBE: 'a=b', BENCH_PROBE2: '' });
      // Issue 14 measured against an HTTPS backend: the default. The c=64 warm-up's (cold) rates are reported apart.
      expect(r.backend).toBe('https');
      expect(r.warmup_secs as number).toBeGreaterThan(0);
      for (const k of ['c64_warmup_rps', 'c64_warmup_direct_rps']) expect(r[k] as number).toBeGreaterThan(0);
      // The docs generator renders it, with a plain-HTTP run's columns beside when given one.
      const section = renderSection(r);
      expect(section.startsWith(BEGIN)).toBe(true);
      expect(section).toContain('| 64 MiB response, MiB/s |');
      expect(section).not.toContain('plain-HTTP backend');
      expect(section).toContain('| 1 KiB GET, c=64, warm-up');
      const { c64_warmup_rps: _w, c64_warmup_direct_rps: _d, ...unwarmed } = r;
      expect(renderSection(unwarmed)).not.toContain('warm-up');
      const plain = { ...r, backend: 'http', c64_rps: 1000, c64_direct_rps: 4000 };
      const both = renderSection(r, { plain });
      expect(both).toContain('| plain-HTTP backend: direct | plain: ours | plain: ours vs |');
      expect(both).toMatch(/\| 1 KiB GET, c=64: requests\/s \|[^\n]*\| 4000 \| 1000 \| 25 % \|/);
      // The agent's extra environment (--agent-env, the chart's JSC options with --binary) is named in the run's line.
      expect(renderSection(r)).toContain('with BENCH_PROBE=a=b BENCH_PROBE2=, ');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('--plain-backend and --tls-backend together are refused with a clear error', async () => {
    const p = Bun.spawn([process.execPath, join(ROOT, 'bench/tunnel.ts'), '--plain-backend', '--tls-backend'], { stdout: 'ignore', stderr: 'pipe', cwd: ROOT });
    const err = await new Response(p.stderr).text();
    expect(await p.exited).not.toBe(0);
    expect(err).toContain('--plain-backend and --tls-backend contradict each other');
  });

  test('an --agent-env entry that is not K=V is refused with a clear error', async () => {
    const p = Bun.spawn([process.execPath, join(ROOT, 'bench/tunnel.ts'), '--agent-env', 'BUN_JSC_useFTLJIT'], { stdout: 'ignore', stderr: 'pipe', cwd: ROOT });
    const err = await new Response(p.stderr).text();
    expect(await p.exited).not.toBe(0);
    expect(err).toContain('--agent-env: expected K=V, got BUN_JSC_useFTLJIT');
  });

  test('a bad --rounds is refused with a clear error', async () => {
    const p = Bun.spawn([process.execPath, join(ROOT, 'bench/tunnel.ts'), '--rounds', 'x'], { stdout: 'ignore', stderr: 'pipe', cwd: ROOT });
    const err = await new Response(p.stderr).text();
    expect(await p.exited).not.toBe(0);
    expect(err).toContain('--rounds must be a positive integer');
  });
});

describe('scripts/bench-docs.ts', () => {
  test('replaces only the text between the markers', () => {
    const doc = `# B\n\nintro\n\n${BEGIN}\nold table\n${END}\n\n<!-- bench:l4:begin -->\nL4 section\n<!-- bench:l4:end -->\n\n## Other\ntext\n`;
    const out = spliceSection(doc, `${BEGIN}\nnew table\n${END}`);
    expect(out).toBe(`# B\n\nintro\n\n${BEGIN}\nnew table\n${END}\n\n<!-- bench:l4:begin -->\nL4 section\n<!-- bench:l4:end -->\n\n## Other\ntext\n`);
  });

  test('a document without the markers is an error, not a silent append', () => {
    expect(() => spliceSection('# B\n', `${BEGIN}\nx\n${END}`)).toThrow('markers');
  });

  test('docs/benchmarks.md carries the markers', () => {
    const doc = readFileSync(join(ROOT, 'docs/benchmarks.md'), 'utf8');
    expect(doc).toContain(BEGIN);
    expect(doc).toContain(END);
  });
});
