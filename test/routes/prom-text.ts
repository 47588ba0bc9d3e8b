// Values follow Prometheus' own parser (Go strconv.ParseFloat): NaN/Inf are case-insensitive; prom-client
// writes "Nan" for an empty event-loop-lag mean.
// A strict-enough check of the Prometheus text exposition format (0.0.4) for the /metrics tests.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL})(?:,${LABEL})*,?\\})? ((?:[nN][aA][nN])|[+-]?[iI]nf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses exposition text; throws naming the first malformed line. */
export function parsePromText(text: string): { samples: PromSample[]; types: Map<string, string>; helps: Set<string> } {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    if (line.startsWith('#')) {
      const h = HELP.exec(line);
      const t = TYPE.exec(line);
      if (h?.[1]) helps.add(h[1]);
      else if (t?.[1] && t[2]) types.set(t[1], t[2]);
      else if (line.startsWith('# HELP') || line.startsWith('# TYPE')) throw new Error(`malformed comment on line ${i + 1}: ${line}`);
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m?.[1] || !m[3]) throw new Error(`malformed sample on line ${i + 1}: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) if (lm[1]) labels[lm[1]] = lm[2] ?? '';
    samples.push({ name: m[1], labels, value: promNumber(m[3]) });
  });
  return { samples, types, helps };
}

function promNumber(v: string): number {
  const l = v.toLowerCase();
  if (l === 'nan') return Number.NaN;
  if (l.endsWith('inf')) return l.startsWith('-') ? -Infinity : Infinity;
  return Number(v);
}
