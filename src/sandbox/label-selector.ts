// Label selector parsing and matching with the apiserver's grammar: =, ==, !=, in, notin, exists, !key, gt, lt.
import { type ApiError, badRequest } from './api-status.ts';

export type LabelOp = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}
export type LabelSelector = LabelRequirement[];

type Token = { t: 'id'; v: string } | { t: 'op'; v: string };

const OP_CHARS = new Set(['!', '=', '<', '>', '(', ')', ',']);

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (OP_CHARS.has(c)) {
      const two = input.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        out.push({ t: 'op', v: c });
        i++;
      }
    } else {
      let j = i;
      while (j < input.length && !OP_CHARS.has(input[j] as string) && input[j] !== ' ' && input[j] !== '\t') j++;
      out.push({ t: 'id', v: input.slice(i, j) });
      i = j;
    }
  }
  return out;
}

const fail = (input: string, why: string): ApiError => badRequest(`unable to parse requirement: ${why} in "${input}"`);

export function parseLabelSelector(input: string): LabelSelector | ApiError {
  const tokens = lex(input);
  const reqs: LabelSelector = [];
  let i = 0;
  const peek = () => tokens[i];
  while (i < tokens.length) {
    let tok = tokens[i++];
    if (tok?.t === 'op' && tok.v === '!') {
      const key = tokens[i++];
      if (key?.t !== 'id') return fail(input, 'expected a label key after "!"');
      reqs.push({ key: key.v, op: '!', values: [] });
    } else if (tok?.t === 'id') {
      const key = tok.v;
      const next = peek();
      if (next === undefined || (next.t === 'op' && next.v === ',')) {
        reqs.push({ key, op: 'exists', values: [] });
      } else if (next.t === 'op' && ['=', '==', '!=', '<', '>'].includes(next.v)) {
        i++;
        const val = peek();
        let value = '';
        if (val?.t === 'id') {
          value = val.v;
          i++;
        }
        if (next.v === '<' || next.v === '>') {
          if (!/^-?\d+$/.test(value)) return fail(input, `for 'Gt', 'Lt' operators, the value must be an integer`);
          reqs.push({ key, op: next.v === '>' ? 'gt' : 'lt', values: [value] });
        } else {
          reqs.push({ key, op: next.v === '!=' ? '!=' : '=', values: [value] });
        }
      } else if (next.t === 'id' && (next.v === 'in' || next.v === 'notin')) {
        i++;
        tok = tokens[i++];
        if (tok?.t !== 'op' || tok.v !== '(') return fail(input, `found '${tok?.v ?? ''}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          const v = tokens[i++];
          if (v === undefined) return fail(input, `found '', expected: ')'`);
          if (v.t === 'op' && v.v === ')') break;
          if (v.t === 'op' && v.v === ',') continue;
          if (v.t !== 'id') return fail(input, `found '${v.v}', expected: ',', ')' or identifier`);
          values.push(v.v);
        }
        if (values.length === 0) return fail(input, `for 'in', 'notin' operators, values set can't be empty`);
        reqs.push({ key, op: next.v, values });
      } else {
        return fail(input, `found '${next.v}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    } else {
      return fail(input, `found '${tok?.v ?? ''}', expected: !, identifier, or 'end of string'`);
    }
    const sep = tokens[i];
    if (sep !== undefined) {
      if (sep.t !== 'op' || sep.v !== ',') return fail(input, `found '${sep.v}', expected: ',' or 'end of string'`);
      i++;
      if (i >= tokens.length) return fail(input, `found '', expected: identifier after ','`);
    }
  }
  for (const r of reqs) {
    if (!/^([A-Za-z0-9][-A-Za-z0-9_.]*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(r.key)) {
      return fail(input, `invalid label key "${r.key}"`);
    }
  }
  return reqs;
}

export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case '=':
      case 'in':
        return has && r.values.includes(v as string);
      case '!=':
      case 'notin':
        return !has || !r.values.includes(v as string);
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'gt':
      case 'lt': {
        const n = Number(v);
        const bound = Number(r.values[0]);
        return has && /^-?\d+$/.test(v as string) && (r.op === 'gt' ? n > bound : n < bound);
      }
      default:
        return false;
    }
  });
}

/** Canonical text of a selector, as the apiserver prints it (used in round-trip tests). */
export function formatLabelSelector(sel: LabelSelector): string {
  return sel
    .map((r) => {
      switch (r.op) {
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case '=':
        case '!=':
          return `${r.key}${r.op}${r.values[0] ?? ''}`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return `${r.key} ${r.op} (${r.values.join(',')})`;
      }
    })
    .join(',');
}
