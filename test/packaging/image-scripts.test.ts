// scripts/image/: shellcheck-clean, the base lock well-formed, and the base it assembles is the one the
// Containerfile's runtime stage names. (Building and running the image is .ci/run's image tier:
// scripts/image/ci-tier.sh and test/image/image.tier.ts.)
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dir, '..', '..');
const SCRIPTS = ['build.sh', 'ci-tier.sh'].map((s) => join(REPO, 'scripts', 'image', s));

describe('scripts/image', () => {
  test('shellcheck (skipped with a message when shellcheck is not installed)', () => {
    const sc = Bun.which('shellcheck');
    if (!sc) {
      console.log('image-scripts.test.ts: shellcheck not installed; lint SKIPPED (.ci/run installs it)');
      return;
    }
    const r = Bun.spawnSync([sc, ...SCRIPTS], { stdout: 'pipe', stderr: 'pipe' });
    expect(r.stdout.toString() + r.stderr.toString()).toBe('');
    expect(r.exitCode).toBe(0);
  });

  test('base-packages.lock: name, Debian version and sha256 per line; glibc, libstdc++, CA certificates, tzdata, netbase', () => {
    const rows = readFileSync(join(REPO, 'scripts', 'image', 'base-packages.lock'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const r of rows) expect(r).toMatch(/^[a-z0-9][a-z0-9+.-]+ [0-9][A-Za-z0-9.+~:-]* [0-9a-f]{64}$/);
    const names = rows.map((r) => r.split(' ')[0]);
    for (const n of ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates', 'tzdata', 'netbase']) expect(names).toContain(n);
  });

  test('the runtime stage builds on the base the script assembles', () => {
    const froms = readFileSync(join(REPO, 'Containerfile'), 'utf8').split('\n').filter((l) => /^FROM\s/i.test(l));
    expect(froms.at(-1)?.split(/\s+/)[1]).toStartWith('gcr.io/distroless/cc-debian12:');
    expect(readFileSync(SCRIPTS[0] as string, 'utf8')).toContain('BASE_REF" == gcr.io/distroless/cc-debian12:*');
  });
});
