// The hub's files on disk: the state directory (created 0700), hub.db with its -wal and -shm (0600: SQLite gives
// the journal files the database file's mode), and the credentials key (`<state>.key`, 0600, created on first
// start). Failures are errors with one actionable line, never a stack trace.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CredentialCipher, newKeyText, parseKey } from './credential-cipher.ts';

const reason = (e: unknown) => {
  const c = (e as NodeJS.ErrnoException).code;
  return c === 'ENOENT' ? 'its parent directory does not exist' : c === 'EACCES' ? 'permission denied' : c === 'ENOTDIR' ? 'a parent is not a directory' : (e as Error).message;
};

export const stateFiles = (state: string) => [state, `${state}-wal`, `${state}-shm`];

/**
 * Creates the state directory (0700) and the database file (0600) if missing, and tightens the modes of an
 * existing database and journal. Returns warnings (a directory others can read); throws on what stops the hub.
 */
export function prepareStateFiles(state: string): string[] {
  if (state === ':memory:') return [];
  const dir = dirname(resolve(state));
  const warnings: string[] = [];
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      throw new Error(`cannot create the state directory ${dir} (${reason(e)}); create it (mode 0700) or choose another --state`);
    }
  } else if (!statSync(dir).isDirectory()) {
    throw new Error(`the state directory ${dir} is not a directory; choose another --state`);
  } else if (statSync(dir).mode & 0o077) {
    warnings.push(`the state directory ${dir} is mode ${(statSync(dir).mode & 0o777).toString(8)}: other users can see the hub's files; chmod 700 ${dir}`);
  }
  try {
    closeSync(openSync(state, 'a', 0o600));
    for (const f of stateFiles(state)) if (existsSync(f)) chmodSync(f, 0o600);
  } catch (e) {
    throw new Error(`cannot open the state file ${state} (${reason(e)}); check the directory's owner and mode, or choose another --state`);
  }
  return warnings;
}

export interface CredentialKeys {
  /** From `credentials.key` (env, file or config); empty: use or create the key file. */
  key: string;
  previous: readonly string[];
}

/** Where the key is kept when `credentials.key` is empty. */
export const keyFileFor = (state: string) => `${state}.key`;

/** The cipher for cluster credentials: the configured key, else `<state>.key` (created), else (`:memory:`) a fresh one. */
export async function openCredentialCipher(state: string, keys: CredentialKeys, warn: (msg: string) => void): Promise<CredentialCipher> {
  let text = keys.key;
  let source = 'credentials.key';
  if (!text && state === ':memory:') text = newKeyText();
  else if (!text) {
    const file = keyFileFor(state);
    source = file;
    try {
      if (!existsSync(file)) writeFileSync(file, `${newKeyText()}\n`, { mode: 0o600, flag: 'wx' });
      else if (statSync(file).mode & 0o077) warn(`the credentials key file ${file} is mode ${(statSync(file).mode & 0o777).toString(8)}; chmod 600 ${file}`);
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot create or read the credentials key file ${file} (${reason(e)})`);
    }
  }
  const current = parseKey(text);
  if (!current) throw new Error(`the credentials key from ${source} is not 32 bytes written as base64 or 64 hex digits`);
  const previous = keys.previous.map((p, i) => {
    const k = parseKey(p);
    if (!k) throw new Error(`credentials.previous_keys[${i}] is not 32 bytes written as base64 or 64 hex digits`);
    return k;
  });
  return CredentialCipher.create(current, previous);
}
