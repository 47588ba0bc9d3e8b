// Spawning worker threads on Bun. Every worker file must also be a build entrypoint of the compiled binary
// (bun-notes §3). From source, this module sits in src/runtime/bun/, so the workers are at ../../../workers/. Inside
// the compiled binary every module is bundled into the root entry (`/$bunfs/root/<outfile>`), so `import.meta.url` is
// that file and the embedded workers are at ./workers/ beside it (`/$bunfs/root/workers/<name>.js`, reachable by the
// .ts name). Resolving the source path there gives `/workers/<name>.ts`, which fails at runtime with ModuleNotFound.

/** True inside a `bun build --compile` binary (its modules live in the embedded `/$bunfs/` file system). */
export const COMPILED = import.meta.url.includes('/$bunfs/');

const WORKERS_DIR = COMPILED ? './workers/' : '../../../workers/';

export function workerUrl(name: string): URL {
  return new URL(`${WORKERS_DIR}${name}.ts`, import.meta.url);
}

export function spawnWorker(name: string): Worker {
  return new Worker(workerUrl(name).href, { name });
}
