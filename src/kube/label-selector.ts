// Equality-based label selectors, as configuration states them (`tunnels.discovery.*.gateway_label`): comma-separated
// terms `key` (exists), `!key`, `key=value` (or `==`), `key!=value`. Set-based terms are refused with a message.

export type LabelTerm = { key: string; op: 'exists' | 'absent' | 'eq' | 'ne'; value: string };

/** A label selector of equality terms; a bare key means "exists". Throws on anything else (checked at load time). */
export function parseLabelSelector(s: string): LabelTerm[] {
  const terms: LabelTerm[] = [];
  for (const raw of s.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(t))) terms.push({ key: m[1]!, op: 'ne', value: m[2]! });
    else if ((m = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(t))) terms.push({ key: m[1]!, op: 'eq', value: m[2]! });
    else if ((m = /^!\s*([^=!\s]+)$/.exec(t))) terms.push({ key: m[1]!, op: 'absent', value: '' });
    else if (/^[^=!\s]+$/.test(t)) terms.push({ key: t, op: 'exists', value: '' });
    else throw new Error(`unsupported label selector term ${JSON.stringify(t)}: use key, key=value, key!=value or !key`);
  }
  return terms;
}

export function matchesSelector(labels: Record<string, string>, terms: readonly LabelTerm[]): boolean {
  return terms.every((t) => {
    const has = Object.hasOwn(labels, t.key);
    if (t.op === 'exists') return has;
    if (t.op === 'absent') return !has;
    if (t.op === 'eq') return has && labels[t.key] === t.value;
    return !has || labels[t.key] !== t.value;
  });
}
