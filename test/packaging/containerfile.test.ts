// Containerfile properties, checked by parsing it (no container engine on CI machines; hadolint is a Haskell
// program that neither apt nor the registries here provide). Instructions are joined across `\` continuations.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Instr = { op: string; args: string; stage: number };

function parseContainerfile(text: string): Instr[] {
  const out: Instr[] = [];
  let stage = -1;
  let buf = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (buf === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (buf + line).trim();
    buf = '';
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!m) continue;
    const op = (m[1] as string).toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: (m[2] as string).trim(), stage });
  }
  return out;
}

const instrs = parseContainerfile(readFileSync(join(import.meta.dir, '..', '..', 'Containerfile'), 'utf8'));
const froms = instrs.filter((i) => i.op === 'FROM');
const last = froms.length - 1;
const final = instrs.filter((i) => i.stage === last);

describe('Containerfile', () => {
  test('multi-stage: a node/bun build stage running npm ci and npm run build, then distroless cc nonroot', () => {
    expect(froms.length).toBe(2);
    expect(froms[0]?.args).toMatch(/^\S*(node|oven\/bun):\S+ AS build$/);
    const build = instrs.filter((i) => i.stage === 0 && i.op === 'RUN').map((i) => i.args);
    expect(build.some((r) => r.startsWith('npm ci'))).toBe(true);
    expect(build.some((r) => r.startsWith('npm run build'))).toBe(true);
    expect(froms[last]?.args).toBe('gcr.io/distroless/cc-debian12:nonroot');
  });

  test('runtime stage: binary only, USER 65532, exec-form ENTRYPOINT and CMD, port 8080, no shell use', () => {
    expect(final.filter((i) => i.op === 'COPY').map((i) => i.args)).toEqual([expect.stringMatching(/^--from=build .*\/src\/dist\/pipeops-agent \/pipeops-agent$/)]);
    expect(final.find((i) => i.op === 'USER')?.args).toBe('65532:65532');
    expect(JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'null')).toEqual(['/pipeops-agent']);
    expect(JSON.parse(final.find((i) => i.op === 'CMD')?.args ?? 'null')).toEqual(['agent']);
    expect(final.find((i) => i.op === 'EXPOSE')?.args).toBe('8080');
    // distroless has no shell: no RUN and no shell-form command in the runtime stage.
    expect(final.filter((i) => i.op === 'RUN' || i.op === 'SHELL')).toEqual([]);
    // Nothing is written at runtime outside /tmp (read-only root filesystem): no VOLUME, no WORKDIR to write into.
    expect(final.filter((i) => i.op === 'VOLUME')).toEqual([]);
  });

  test('OCI labels', () => {
    const labels = final.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' ');
    for (const k of ['title', 'description', 'source', 'licenses', 'version']) expect(labels).toMatch(new RegExp(`org\\.opencontainers\\.image\\.${k}="[^"]+"`));
  });

  test('.dockerignore keeps host node_modules and dist out of the build context', () => {
    const ignore = readFileSync(join(import.meta.dir, '..', '..', '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toContain('node_modules');
    expect(ignore).toContain('dist');
  });
});
