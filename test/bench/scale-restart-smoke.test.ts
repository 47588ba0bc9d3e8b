// bench/scale-restart.ts --smoke (20 simulated agents against a real hub process): the JSON report has every key with a
// sane type, and the outcomes that are not timings hold (every agent registered, heartbeats acknowledged, every agent
// back after the hub's SIGKILL and restart). Timings are printed by the bench, never asserted here.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/hub-agent.ts';

const ROOT = join(import.meta.dir, '../..');
const BENCH = join(ROOT, 'bench/scale-restart.ts');

type Kind = 'int' | 'num' | 'bool' | 'nums';
const SHAPE: Record<string, Kind | Record<string, Kind>> = {
  agents: 'int',
  concurrency: 'int',
  cores: 'int',
  load_avg_start: 'nums',
  load_avg_end: 'nums',
  registration: { seconds: 'num', per_second: 'num', failed_attempts: 'int' },
  rss: { idle_kib: 'int', with_sessions_kib: 'int', per_session_kib: 'num', target_kib: 'int' },
  heartbeat: { interval_ms: 'int', window_ms: 'int', acks: 'int', cpu_ms_with: 'num', cpu_ms_baseline: 'num', cpu_us_per_heartbeat: 'num' },
  reconnect: {
    down_ms: 'int',
    hub_restart_ms: 'int',
    p50_ms: 'int',
    p99_ms: 'int',
    max_ms: 'int',
    all_reconnected: 'bool',
    reconnected: 'int',
    resumed: 'int',
    reregistered: 'int',
    target_ms: 'int',
    backoff_base_ms: 'int',
    backoff_max_ms: 'int',
  },
};

function checkKind(path: string, v: unknown, k: Kind): string | null {
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (k === 'bool') return typeof v === 'boolean' ? null : `${path}: not a boolean (${JSON.stringify(v)})`;
  if (k === 'nums') return Array.isArray(v) && v.length === 3 && v.every((x) => finite(x) && x >= 0) ? null : `${path}: not three load averages (${JSON.stringify(v)})`;
  if (!finite(v) || (v as number) < 0) return `${path}: not a finite non-negative number (${JSON.stringify(v)})`;
  if (k === 'int' && !Number.isInteger(v)) return `${path}: not an integer (${JSON.stringify(v)})`;
  return null;
}

/** Every problem with `r` against SHAPE: missing, extra or mistyped keys. */
function shapeProblems(r: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, kind] of Object.entries(SHAPE)) {
    const v = r[key];
    if (typeof kind === 'string') {
      const p = checkKind(key, v, kind);
      if (p) out.push(p);
      continue;
    }
    if (!v || typeof v !== 'object') {
      out.push(`${key}: missing`);
      continue;
    }
    for (const [sub, k] of Object.entries(kind)) {
      const p = checkKind(`${key}.${sub}`, (v as Record<string, unknown>)[sub], k);
      if (p) out.push(p);
    }
    for (const sub of Object.keys(v)) if (!(sub in kind)) out.push(`${key}.${sub}: unexpected`);
  }
  for (const key of Object.keys(r)) if (!(key in SHAPE)) out.push(`${key}: unexpected`);
  return out;
}

function runBench(args: string[]) {
  const p = Bun.spawnSync([process.execPath, BENCH, ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', timeout: 240_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe('bench/scale-restart.ts', () => {
  test('--smoke writes a complete JSON report: 20 agents registered, heartbeats acknowledged, all back after the hub restart', () => {
    const json = join(tempDir('pipeops-scale-test-'), 'scale.json');
    // Held down 3 s: each agent's first redial (0.5–0.625 s after the drop) finds no hub, so the full-registration
    // path of the redial is exercised too.
    const r = runBench(['--smoke', '--down-ms', '3000', '--json', json]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
    expect(shapeProblems(report)).toEqual([]);
    const rec = report.reconnect as Record<string, unknown>;
    expect(report.agents).toBe(20);
    expect((report.heartbeat as { acks: number }).acks).toBeGreaterThan(0);
    expect(rec.reconnected).toBe(20);
    expect(rec.all_reconnected).toBe(true);
    // The printed table carries the same run.
    expect(r.out).toContain('| hub RSS per idle session |');
    expect(r.out).toContain('(20/20;');
    expect((rec.resumed as number) + (rec.reregistered as number)).toBe(20);
    expect(rec.down_ms).toBe(3000);
    expect(rec.reregistered).toBeGreaterThan(0);
  }, 240_000);

  test('the shape check itself rejects a missing, a mistyped and an unexpected key', () => {
    const good = { agents: 1, concurrency: 1, cores: 2, load_avg_start: [1, 1, 1], load_avg_end: [1, 1, 1] } as Record<string, unknown>;
    for (const [k, v] of Object.entries(SHAPE)) if (typeof v === 'object') good[k] = Object.fromEntries(Object.entries(v).map(([s, kind]) => [s, kind === 'bool' ? true : 1]));
    expect(shapeProblems(good)).toEqual([]);
    expect(shapeProblems({ ...good, agents: undefined })).toEqual(['agents: not a finite non-negative number (undefined)']);
    expect(shapeProblems({ ...good, rss: { ...(good.rss as object), per_session_kib: Number.NaN } })).toEqual(['rss.per_session_kib: not a finite non-negative number (null)']);
    expect(shapeProblems({ ...good, extra: 1 })).toEqual(['extra: unexpected']);
  });

  test('bad arguments get a clear error and exit 2, without starting a hub', () => {
    const zero = runBench(['--agents', '0']);
    expect(zero.code).toBe(2);
    expect(zero.err).toContain('--agents must be an integer ≥ 1, got "0"');
    const unknown = runBench(['--agentz', '5']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown argument --agentz');
    const replicas = runBench(['--replicas', '2']);
    expect(replicas.code).toBe(2);
    expect(replicas.err).toContain('hub replicas need the shared PostgreSQL store');
    const docsSmoke = runBench(['--smoke', '--docs']);
    expect(docsSmoke.code).toBe(2);
    expect(docsSmoke.err).toContain('--docs records a full run, not --smoke');
  });

  test('an open-file limit too low for the agents is refused up front with the ulimit to set', () => {
    const p = Bun.spawnSync(['bash', '-c', `ulimit -n 200 && exec "$0" "$1" --agents 100`, process.execPath, BENCH], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe', timeout: 60_000 });
    expect(p.exitCode).toBe(2);
    expect(p.stderr.toString()).toContain('--agents 100 needs more than the open-file limit 200: raise it first (ulimit -n 1124)');
  });
});

describe('withScaleSection', () => {
  const r = {
    agents: 2,
    concurrency: 1,
    cores: 2,
    load_avg_start: [1, 2, 3],
    load_avg_end: [1, 2, 3],
    registration: { seconds: 1, per_second: 2, failed_attempts: 0 },
    rss: { idle_kib: 1024, with_sessions_kib: 1124, per_session_kib: 50, target_kib: 50 },
    heartbeat: { interval_ms: 100, window_ms: 1000, acks: 20, cpu_ms_with: 10, cpu_ms_baseline: 0, cpu_us_per_heartbeat: 500 },
    reconnect: { down_ms: 0, hub_restart_ms: 1, p50_ms: 1, p99_ms: 2, max_ms: 3, all_reconnected: true, reconnected: 2, resumed: 2, reregistered: 0, target_ms: 30000, backoff_base_ms: 1, backoff_max_ms: 2 },
  };

  test('replaces only the text between the markers and appends the section when they are absent', async () => {
    const { withScaleSection, SCALE_BEGIN, SCALE_END } = await import('../../bench/scale-restart.ts');
    const doc = `# B\n\n## other\nkept\n\n${SCALE_BEGIN}\nold table\n${SCALE_END}\n\n## after\nalso kept\n`;
    const out = withScaleSection(doc, r);
    expect(out).not.toContain('old table');
    expect(out.startsWith('# B\n\n## other\nkept\n\n<!-- scale-restart:begin -->\n')).toBe(true);
    expect(out.endsWith(`${SCALE_END}\n\n## after\nalso kept\n`)).toBe(true);
    expect(out).toContain('| hub RSS per idle session | 50 KiB | ≤ 50 KiB: yes |');
    expect(withScaleSection(out, r)).toBe(out);
    const appended = withScaleSection('# B\n', r);
    expect(appended.startsWith(`# B\n\n${SCALE_BEGIN}\n`)).toBe(true);
    expect(appended.endsWith(`${SCALE_END}\n`)).toBe(true);
  });
});
