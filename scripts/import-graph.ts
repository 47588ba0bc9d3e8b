// The import graph of our own TypeScript files, for the lint's direction rules and its cycle check.
// Edges are every relative `import`/`export … from` (type-only ones too: a type cycle is still a cycle of
// meaning) and dynamic `import('…')` of a literal path; package imports are not edges.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Specifiers imported by one source text (comments are not stripped: a commented-out import is still reported). */
export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) out.push((m[1] ?? m[2]) as string);
  return out;
}

/** `from` → the repo-relative files it imports; `alias` maps bare specifiers such as `#runtime` to a file. */
export function importGraph(sources: ReadonlyMap<string, string>, alias: Readonly<Record<string, string>> = {}): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [file, text] of sources) {
    const deps: string[] = [];
    for (const s of importSpecifiers(text)) {
      const target = alias[s] ?? (s.startsWith('.') ? normalize(join(dirname(file), s)) : null);
      if (target && sources.has(target)) deps.push(target);
    }
    g.set(file, deps);
  }
  return g;
}

/** Strongly connected components with more than one file (or a file importing itself): each is a cycle. Tarjan. */
export function importCycles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** Every .ts file under `dirs` of `root`, keyed by repo-relative path. */
export function readSources(root: string, dirs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e)) out.set(relative(root, p), readFileSync(p, 'utf8'));
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out;
}
