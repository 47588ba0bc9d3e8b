// Command-line flags of `agent` and `hub`: pflag-style `--name value` / `--name=value`, boolean flags without a value,
// `--set key=value` for any key. Pure; unknown flags come back as issues, not exceptions.
import { type FlagSpec, KEY_FLAGS, OTHER_FLAGS } from './bindings.ts';

export interface CliActions {
  printConfig: boolean;
  help: boolean;
  version: boolean;
}

export interface ParsedArgs {
  /** Key flags in command-line order (later ones win; `spec.repeatable` ones add up). */
  values: { key: string; raw: string; flag: string; spec: FlagSpec }[];
  /** `--set` assignments in order. */
  sets: { path: string; raw: string }[];
  configPath: string | null;
  actions: CliActions;
  issues: { flag: string; message: string }[];
}

const AGENT_FLAGS: readonly FlagSpec[] = [...KEY_FLAGS, ...OTHER_FLAGS];
const indexes = new WeakMap<readonly FlagSpec[], Map<string, FlagSpec>>();

function index(flags: readonly FlagSpec[]): Map<string, FlagSpec> {
  let m = indexes.get(flags);
  if (!m) {
    m = new Map(flags.map((f) => [f.name, f]));
    indexes.set(flags, m);
  }
  return m;
}

/** `flags`: every flag the command accepts (default: the agent's). */
export function parseArgs(argv: readonly string[], flags: readonly FlagSpec[] = AGENT_FLAGS): ParsedArgs {
  const BY_NAME = index(flags);
  const out: ParsedArgs = {
    values: [],
    sets: [],
    configPath: null,
    actions: { printConfig: false, help: false, version: false },
    issues: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      out.actions.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      out.issues.push({ flag: arg, message: `unexpected argument ${JSON.stringify(arg)}` });
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = BY_NAME.get(name);
    if (!spec) {
      out.issues.push({ flag: `--${name}`, message: `unknown flag --${name}${suggestFlag(name, BY_NAME)}` });
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec.boolean) raw = 'true';
    else if (i + 1 < argv.length) raw = argv[++i]!;
    else {
      out.issues.push({ flag: `--${name}`, message: `flag --${name} needs a value` });
      continue;
    }
    if (spec.key) {
      if (spec.negate) raw = raw === 'false' || raw === '0' ? 'true' : 'false';
      out.values.push({ key: spec.key, raw, flag: `--${name}`, spec });
    } else if (name === 'config') {
      out.configPath = raw;
    } else if (name === 'set') {
      const at = raw.indexOf('=');
      if (at <= 0) out.issues.push({ flag: '--set', message: `--set expects key.path=value, got ${JSON.stringify(raw)}` });
      else out.sets.push({ path: raw.slice(0, at).trim(), raw: raw.slice(at + 1) });
    } else {
      const on = raw !== 'false' && raw !== '0';
      if (name === 'print-config') out.actions.printConfig = on;
      else if (name === 'help') out.actions.help = on;
      else if (name === 'version') out.actions.version = on;
    }
  }
  return out;
}

function suggestFlag(name: string, BY_NAME: ReadonlyMap<string, FlagSpec>): string {
  let best = '';
  let bestD = Number.POSITIVE_INFINITY;
  for (const f of BY_NAME.keys()) {
    const d = editDistance(name, f);
    if (d < bestD) {
      bestD = d;
      best = f;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean --${best}?)` : '';
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
