// Builds the effective config from defaults < YAML file < env < flags, remembering where every value came
// from, and reports every problem at once (never just the first) with the key, the source and the reason.
// One loader for two schemas: the agent's (loadConfig) and the hub's (src/hub/config/load.ts), each a ConfigModel.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { type CliActions, editDistance, parseArgs } from './argv.ts';
import { envNamesFor, type FlagSpec, KEY_FLAGS, OTHER_FLAGS } from './bindings.ts';
import { type Coerced, coerceFileValue, coerceString } from './coerce.ts';
import { agentLeaves, type Leaf, type LeafIndex } from './leaves.ts';
import type { AgentConfig } from './schema.ts';

export type ConfigSource = { kind: 'default' | 'file' | 'env' | 'flag'; name: string };
export type ConfigIssue = { key: string; source: ConfigSource; message: string };

/** What the loader needs to know about one program's configuration. */
export interface ConfigModel {
  schema: z.ZodType;
  leaves: LeafIndex;
  /** Every flag the program accepts (key flags and actions). */
  flags: readonly FlagSpec[];
  /** Env names read for a key, highest priority first. */
  envNamesFor(key: string): string[];
  /** Files tried in order when --config is not given. */
  searchPaths(cwd: string, home: string): string[];
  /** An env variable that names the config file when --config is not given. */
  configEnv?: string;
  /**
   * Secrets can also be read from files: `<ENV>_FILE` for every env name of a secret key, and flags marked
   * `file`. A secret given on the command line itself is a warning.
   */
  secretFiles?: boolean;
  /** Groups created before validation so that missing required keys are reported per key. */
  skeleton?: () => Record<string, unknown>;
}

export type LoadResultOf<C> =
  | {
      ok: true;
      config: C;
      /** Source of every leaf key ("agent.port" → {kind:'env', name:'PIPEOPS_PORT'}). */
      sources: Record<string, ConfigSource>;
      file: string | null;
      warnings: string[];
      actions: CliActions;
    }
  | { ok: false; errors: ConfigIssue[]; message: string; warnings: string[]; actions: CliActions };

export type LoadResult = LoadResultOf<AgentConfig>;

export interface LoadInput {
  /** Arguments after the `agent` sub-command. */
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
  /** Files tried in order when --config is not given (default: `defaultSearchPaths(cwd, home)`). */
  searchPaths?: string[];
  /** Returns the file's text, or null when it does not exist (default: node:fs). */
  readFile?: (path: string) => string | null;
}

/** Where a config file is looked for when --config is not given; the first that exists wins. */
export function defaultSearchPaths(cwd: string, home: string): string[] {
  const paths = [join(cwd, 'config.yaml')];
  if (home) paths.push(join(home, '.pipeops-agent.yaml'));
  paths.push('/etc/pipeops/config.yaml', '/etc/pipeops/.pipeops-agent.yaml', join(cwd, '.pipeops-agent.yaml'));
  return paths;
}

function readFileDefault(path: string): string | null {
  if (!existsSync(path)) return null;
  if (statSync(path).isDirectory()) throw new Error('is a directory');
  return readFileSync(path, 'utf8');
}

const DEFAULT_SOURCE: ConfigSource = { kind: 'default', name: 'default' };
const NOT_SET: ConfigSource = { kind: 'default', name: 'not set' };

/** "from env PIPEOPS_PORT", "from file /x/config.yaml", "default"; "" for a required key that is not set. */
export function describeSource(s: ConfigSource): string {
  if (s.kind === 'default') return s.name === 'default' ? 'default' : '';
  return `from ${s.kind} ${s.name}`;
}

/** How a value may appear in a message: secrets only by length. */
export function showValue(value: unknown, secret: boolean): string {
  if (secret) return `"<redacted, ${typeof value === 'string' ? value.length : String(value).length} chars>"`;
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

interface Layered {
  value: unknown;
  source: ConfigSource;
}

const AGENT_MODEL: ConfigModel = {
  // Through the leaf index, which holds it: the schema and its index are built for a load and collected after it.
  get schema() {
    return agentLeaves().schema;
  },
  get leaves() {
    return agentLeaves();
  },
  flags: [...KEY_FLAGS, ...OTHER_FLAGS],
  envNamesFor,
  searchPaths: defaultSearchPaths,
  skeleton: () => ({ agent: {}, pipeops: {} }),
};

/** The agent's configuration. */
export function loadConfig(input: LoadInput): LoadResult {
  const r = loadWithModel<AgentConfig>(AGENT_MODEL, input);
  if (r.ok) applyHeartbeatAlias(r.config, r.sources, r.warnings);
  return r;
}

/** A file's text as a value: trimmed; for lists one item per line (commas work too). */
function fileValue(text: string, leaf: Leaf): string {
  const t = text.trim();
  return leaf.meta.kind === 'string-list' && !t.startsWith('[') ? t.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(',') : t;
}

export function loadWithModel<C>(model: ConfigModel, input: LoadInput): LoadResultOf<C> {
  const leaves = model.leaves;
  const args = parseArgs(input.argv, model.flags);
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const readFile = input.readFile ?? readFileDefault;

  for (const i of args.issues) issues.push({ key: i.flag, source: { kind: 'flag', name: i.flag }, message: i.message });

  // Each layer maps a leaf key to its coerced value; later layers win.
  const chosen = new Map<string, Layered>();
  // Secret values from every source, so that a secret pasted into the wrong key is not echoed either.
  const secretValues = new Set<string>();
  const put = (leaf: Leaf, c: Coerced, source: ConfigSource, raw: unknown) => {
    if (leaf.meta.secret && typeof raw === 'string' && raw.length >= 6) secretValues.add(raw);
    if (c.ok) chosen.set(leaf.key, { value: c.value, source });
    else {
      chosen.delete(leaf.key);
      issues.push({ key: leaf.key, source, message: `${c.message}${leaf.meta.secret ? ` (value ${showValue(raw, true)})` : ''}` });
    }
  };

  // ---- file
  const fromEnv = model.configEnv ? input.env[model.configEnv] : undefined;
  const explicit = args.configPath ?? (fromEnv ? fromEnv : null);
  const explicitSource: ConfigSource = args.configPath !== null ? { kind: 'flag', name: '--config' } : { kind: 'env', name: model.configEnv ?? '' };
  const file = locateFile(input, explicit, explicitSource, input.searchPaths ?? model.searchPaths(input.cwd, input.home), readFile, issues);
  // When the file cannot be read, "required but not set" would only be noise: the keys may be in it.
  let fileBroken = issues.some((i) => i.key === 'config file');
  if (file) {
    const fileSource: ConfigSource = { kind: 'file', name: file.path };
    const doc = parseDocument(file.text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      fileBroken = true;
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        const where = pos ? `${file.path}:${pos.line}:${pos.col}` : file.path;
        issues.push({
          key: 'config file',
          source: fileSource,
          message: `YAML syntax error at ${where}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        });
      }
    } else {
      const data: unknown = doc.toJS();
      if (data !== null && data !== undefined && !isPlainObject(data)) {
        issues.push({ key: 'config file', source: fileSource, message: `expected a mapping at the top of ${file.path}` });
      } else if (isPlainObject(data)) {
        walkFile(leaves, data, [], (leaf, value) => put(leaf, coerceFileValue(value, leaf.meta), fileSource, value), (path, msg) => {
          if (msg) issues.push({ key: path, source: fileSource, message: msg });
          else warnings.push(`unknown configuration key "${path}" in ${file.path} (ignored)${suggestKey(leaves, path)}`);
        });
      }
    }
  }

  /** A secret's file (`<ENV>_FILE`, `--x-file`): its value, or null with the problem recorded. */
  const readSecret = (leaf: Leaf, path: string, source: ConfigSource): string | null => {
    let text: string | null;
    try {
      text = readFile(isAbsolute(path) ? path : resolve(input.cwd, path));
    } catch (e) {
      issues.push({ key: leaf.key, source, message: `cannot read ${path}: ${(e as Error).message}` });
      return null;
    }
    if (text === null) {
      issues.push({ key: leaf.key, source, message: `cannot read ${path}: no such file` });
      return null;
    }
    return fileValue(text, leaf);
  };

  // ---- env
  for (const leaf of leaves.list) {
    for (const name of model.envNamesFor(leaf.key)) {
      let raw = input.env[name];
      let source: ConfigSource = { kind: 'env', name };
      const fileVar = model.secretFiles && leaf.meta.secret ? `${name}_FILE` : null;
      const path = fileVar ? input.env[fileVar] : undefined;
      if (path && raw) {
        issues.push({ key: leaf.key, source, message: `set ${name} or ${fileVar}, not both` });
        break;
      }
      if (path && fileVar) {
        source = { kind: 'env', name: fileVar };
        const v = readSecret(leaf, path, source);
        if (v === null) break;
        raw = v;
      }
      if (raw === undefined || raw === '') continue;
      if (leaf.meta.kind === 'int' && /^(tcp|udp):\/\//.test(raw)) {
        // Kubernetes injects <SERVICE>_PORT=tcp://ip:port for every Service in the namespace.
        warnings.push(`ignored env ${name}=${raw}: looks like a Kubernetes service link variable, not ${leaf.key}`);
        continue;
      }
      put(leaf, coerceString(raw, leaf.meta), source, raw);
      break;
    }
  }

  // ---- flags, then --set (both in command-line order)
  const repeated = new Set<string>();
  for (const f of args.values) {
    const leaf = leaves.byKey(f.key);
    if (!leaf) continue;
    const source: ConfigSource = { kind: 'flag', name: f.flag };
    let raw = f.raw;
    if (f.spec.file) {
      const v = readSecret(leaf, f.raw, source);
      if (v === null) continue;
      raw = v;
    } else if (model.secretFiles && leaf.meta.secret) {
      const env = model.envNamesFor(leaf.key)[0]!;
      warnings.push(`${f.flag} puts a secret on the command line, where ps and shell history show it; use ${env}_FILE or ${env}`);
    }
    const c = coerceString(raw, leaf.meta);
    const prev = chosen.get(leaf.key);
    if (f.spec.repeatable && c.ok && repeated.has(leaf.key) && Array.isArray(prev?.value) && Array.isArray(c.value)) {
      put(leaf, { ok: true, value: [...prev.value, ...c.value] }, source, raw);
    } else put(leaf, c, source, raw);
    if (f.spec.repeatable) repeated.add(leaf.key);
  }
  const mapEntries: { leaf: Leaf; entry: string; raw: string }[] = [];
  for (const s of args.sets) {
    const source: ConfigSource = { kind: 'flag', name: `--set ${s.path}` };
    const leaf = leaves.byKey(s.path);
    if (leaf) {
      put(leaf, coerceString(s.raw, leaf.meta), source, s.raw);
      continue;
    }
    const parent = leaves.forPath(s.path.split('.'));
    if (parent && parent.meta.kind === 'string-map') {
      mapEntries.push({ leaf: parent, entry: s.path.slice(parent.key.length + 1), raw: s.raw });
      continue;
    }
    warnings.push(`unknown configuration key "${s.path}" in --set (ignored)${suggestKey(leaves, s.path)}`);
  }
  const sources: Record<string, ConfigSource> = {};
  for (const { leaf, entry, raw } of mapEntries) {
    const base = chosen.get(leaf.key);
    const map = { ...(isPlainObject(base?.value) ? base.value : (leaf.defaultValue as Record<string, string>)) };
    map[entry] = raw;
    chosen.set(leaf.key, { value: map, source: base?.source ?? DEFAULT_SOURCE });
    sources[`${leaf.key}.${entry}`] = { kind: 'flag', name: `--set ${leaf.key}.${entry}` };
  }

  // ---- validate everything at once
  const raw: Record<string, unknown> = model.skeleton?.() ?? {};
  for (const [key, { value }] of chosen) setPath(raw, key.split('.'), value);
  const parsed = model.schema.safeParse(raw);
  if (!parsed.success) {
    for (const zi of parsed.error.issues) {
      const leaf = leaves.forPath(zi.path);
      const key = formatPath(zi.path);
      if (!leaf) {
        issues.push({ key, source: DEFAULT_SOURCE, message: zi.message });
        continue;
      }
      const params = (zi as { params?: { sourceKey?: string } }).params;
      const sourceKey = params?.sourceKey ?? leaf.key;
      const at = chosen.get(sourceKey) ?? chosen.get(leaf.key);
      if (!at) {
        if (fileBroken) continue;
        issues.push({ key, source: NOT_SET, message: `${zi.message} (set ${setHint(model, leaf)})` });
        continue;
      }
      const onLeaf = zi.path.length === leaf.path.length && !params?.sourceKey;
      const got = onLeaf && !zi.message.includes(' got ') ? `, got ${showValue(at.value, leaf.meta.secret === true)}` : '';
      issues.push({ key, source: at.source, message: `${zi.message}${got}` });
    }
  }

  if (issues.length > 0) {
    const errors = dedupe(issues).map((e) => ({ ...e, message: scrub(e.message, secretValues) }));
    const lines = errors.map((e) => {
      const from = describeSource(e.source);
      return `  - ${e.key}: ${e.message}${from ? ` (${from})` : ''}`;
    });
    const message = `invalid configuration (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
    return { ok: false, errors, message, warnings, actions: args.actions };
  }

  const config = parsed.data as C;
  for (const leaf of leaves.list) sources[leaf.key] = chosen.get(leaf.key)?.source ?? DEFAULT_SOURCE;
  return { ok: true, config, sources, file: file?.path ?? null, warnings, actions: args.actions };
}

/** `agent.heartbeat_interval`, when set, overrides `_connected`; otherwise it mirrors `_connected`. */
function applyHeartbeatAlias(config: AgentConfig, sources: Record<string, ConfigSource>, warnings: string[]): void {
  const a = config.agent;
  const hb = sources['agent.heartbeat_interval']!;
  const conn = sources['agent.heartbeat_interval_connected']!;
  if (hb.kind !== 'default') {
    if (conn.kind !== 'default' && a.heartbeat_interval_connected !== a.heartbeat_interval) {
      warnings.push(
        `agent.heartbeat_interval (${describeSource(hb)}) overrides agent.heartbeat_interval_connected (${describeSource(conn)})`,
      );
    }
    a.heartbeat_interval_connected = a.heartbeat_interval;
    sources['agent.heartbeat_interval_connected'] = hb;
  } else {
    a.heartbeat_interval = a.heartbeat_interval_connected;
    sources['agent.heartbeat_interval'] = conn;
  }
}

function locateFile(
  input: LoadInput,
  explicit: string | null,
  source: ConfigSource,
  searchPaths: readonly string[],
  readFile: (p: string) => string | null,
  issues: ConfigIssue[],
): { path: string; text: string } | null {
  const read = (path: string, source: ConfigSource): string | null => {
    try {
      return readFile(path);
    } catch (e) {
      issues.push({ key: 'config file', source, message: `cannot read ${path}: ${(e as Error).message}` });
      return null;
    }
  };
  if (explicit !== null) {
    const path = isAbsolute(explicit) ? explicit : resolve(input.cwd, explicit);
    const text = read(path, source);
    if (text === null) {
      if (!issues.some((i) => i.key === 'config file')) issues.push({ key: 'config file', source, message: `config file ${path} does not exist` });
      return null;
    }
    return { path, text };
  }
  for (const path of searchPaths) {
    const text = read(path, { kind: 'file', name: path });
    if (text !== null) return { path, text };
  }
  return null;
}

/** Visit the leaves present in a YAML tree; report unknown keys (msg undefined) and shape errors. */
function walkFile(
  leaves: LeafIndex,
  node: Record<string, unknown>,
  prefix: string[],
  onLeaf: (leaf: Leaf, value: unknown) => void,
  onProblem: (path: string, msg?: string) => void,
): void {
  const groups = leaves.groups;
  for (const [rawKey, value] of Object.entries(node)) {
    const path = [...prefix, rawKey];
    let key = path.join('.');
    if (!leaves.byKey(key) && !groups.has(key)) {
      // viper keys are case-insensitive
      const lower = [...prefix, rawKey.toLowerCase()].join('.');
      if (leaves.byKey(lower) || groups.has(lower)) key = lower;
    }
    const leaf = leaves.byKey(key);
    if (leaf) {
      if (value !== null && value !== undefined) onLeaf(leaf, value);
    } else if (groups.has(key)) {
      if (isPlainObject(value)) walkFile(leaves, value, key.split('.'), onLeaf, onProblem);
      else if (value !== null && value !== undefined) onProblem(key, `expected a mapping (a group of settings), got ${showValue(value, false)}`);
    } else {
      onProblem(key);
    }
  }
}

function suggestKey(leaves: LeafIndex, path: string): string {
  const candidates = [...leaves.list.map((l) => l.key), ...leaves.groups];
  let best = '';
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(path, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const last = path.split('.').pop() ?? path;
  return bestD <= Math.max(2, Math.floor(last.length / 3)) ? `; did you mean "${best}"?` : '';
}

function setHint(model: ConfigModel, leaf: Leaf): string {
  const env = model.envNamesFor(leaf.key)[0];
  const parts = [`env ${env}${model.secretFiles && leaf.meta.secret ? ` or ${env}_FILE` : ''}`];
  // A secret is best set from a file: name that flag first.
  const fileFirst = model.secretFiles && leaf.meta.secret;
  const flag = model.flags.find((f) => f.key === leaf.key && Boolean(f.file) === Boolean(fileFirst)) ?? model.flags.find((f) => f.key === leaf.key);
  if (flag) parts.push(`flag --${flag.name}`);
  parts.push(`"${leaf.key}" in the config file`);
  return parts.join(', ');
}

function scrub(text: string, secrets: Set<string>): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(`<redacted, ${s.length} chars>`);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.key}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
