// One Markdown table row per metric definition, shared by the agent's and the hub's generated metrics docs.
export interface MetricRowDef {
  name: string;
  type: string;
  help: string;
  labels?: readonly string[];
  buckets?: readonly number[];
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();

export function metricTableRows(defs: readonly MetricRowDef[]): string[] {
  return defs.map((m) => {
    const labels = m.labels && m.labels.length > 0 ? m.labels.map((l) => `\`${l}\``).join(', ') : '–';
    const buckets = m.type === 'histogram' && m.buckets ? ` Buckets: ${m.buckets.join(', ')}.` : '';
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${cell(m.help)}${buckets} |`;
  });
}
