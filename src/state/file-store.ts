// State outside a cluster (deviation S1): one YAML file, mode 0600, replaced atomically (temp file, fsync, rename,
// fsync of the directory), so a crash leaves the old or the new file and never a partial one.
import { accessSync, chmodSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { EMPTY_STATE, type PersistedState, PersistedStateSchema, StateError, type StateStore } from './agent-state.ts';

export const STATE_FILE_NAME = 'agent-state.yaml';
export const DEFAULT_STATE_SEARCH_PATHS = ['/var/lib/pipeops/agent-state.yaml', '/etc/pipeops/agent-state.yaml', './tmp/agent-state.yaml'];

function writableDir(dir: string): boolean {
  try {
    if (existsSync(dir)) {
      accessSync(dir, constants.W_OK);
      return true;
    }
    makePrivateDir(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * The state file to use: `explicit` if given; else the first existing file of `searchPaths`; else the first of them whose
 * directory exists writable or can be created. Throws when none can be.
 */
export function locateStateFile(explicit: string | undefined, searchPaths: string[] = DEFAULT_STATE_SEARCH_PATHS): string {
  if (explicit) return resolve(explicit);
  const abs = searchPaths.map((p) => resolve(p));
  for (const p of abs) if (existsSync(p)) return p;
  for (const p of abs) if (writableDir(dirname(p))) return p;
  throw new StateError('state_file_unwritable', `no writable location for the state file among ${abs.join(', ')}; set agent.state_file`);
}

/** Parses file text into a state; throws a StateError naming `path` for anything that is not a valid state document. */
export function parseStateFile(text: string, path: string): PersistedState {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.pos[0] >= 0 ? text.slice(0, e.pos[0]).split('\n').length : undefined;
    throw new StateError(
      'state_file_corrupt',
      `state file ${path} is not valid YAML${line ? ` (line ${line})` : ''}: ${e.message.split('\n')[0]}; fix or remove it`,
    );
  }
  const v: unknown = doc.toJS() ?? {};
  const r = PersistedStateSchema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new StateError(
      'state_file_corrupt',
      `state file ${path} is not a valid agent state (${i ? `${i.path.join('.') || 'document'}: ${i.message}` : 'bad shape'}); fix or remove it`,
    );
  }
  return r.data;
}

/** Create a directory (and parents) with mode 0700. The mode is set explicitly: Bun's recursive mkdirSync was seen ignoring it. */
function makePrivateDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (created) chmodSync(dir, 0o700);
}

/** Writes `text` to `path` atomically with mode 0600. */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(path);
  makePrivateDir(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // best effort
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // The rename is durable only once the directory entry is on disk.
  const dfd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export class FileStateStore implements StateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  describe(): string {
    return `file ${this.path}`;
  }

  async load(): Promise<PersistedState> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY_STATE };
      throw new StateError('state_file_unreadable', `state file ${this.path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.#removeStaleTemps();
    return parseStateFile(text, this.path);
  }

  /** Temp files of a save that was killed before its rename are garbage: the real file is intact. */
  #removeStaleTemps(): void {
    const dir = dirname(this.path);
    const prefix = `.${basename(this.path)}.`;
    try {
      for (const f of readdirSync(dir)) {
        if (f.startsWith(prefix) && f.endsWith('.tmp') && !f.startsWith(`${prefix}${process.pid}.`)) unlinkSync(join(dir, f));
      }
    } catch {
      // best effort: a leftover temp file costs disk space, nothing else
    }
  }

  async save(s: PersistedState): Promise<void> {
    const v = PersistedStateSchema.parse(s);
    const text = `# pipeops-agent persistent state. Contains a secret (cluster_token): keep mode 0600.\n${stringify(v, { lineWidth: 0 })}`;
    try {
      writeFileAtomic(this.path, text);
    } catch (e) {
      throw new StateError('state_file_unwritable', `state file ${this.path} cannot be written: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
}
