import { describe, expect, test } from 'bun:test';
import { createLogger, uniqueKeys } from '../../src/log/logger.ts';
import { topLevelKeys } from '../support/json-keys.ts';

describe('log lines', () => {
  test('a child logger and call fields never repeat a key (issue 10 item 14)', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'hub', level: 'info', sink: (l) => lines.push(l) });
    log.child({ component: 'kube-gateway' }).info({ pid: 7, msg_extra: 'x' }, 'hello');
    expect(lines.length).toBe(1);
    const keys = topLevelKeys(lines[0]!);
    expect(keys.length).toBe(new Set(keys).size);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o.component).toBe('kube-gateway');
    expect(o.pid).toBe(7);
    expect(lines[0]!.endsWith('\n')).toBe(true);
  });

  test('uniqueKeys keeps the first position and the last value; non-JSON passes through', () => {
    expect(uniqueKeys('{"a":1,"b":2,"a":3}\n')).toBe('{"a":3,"b":2}\n');
    expect(uniqueKeys('not json')).toBe('not json');
    expect(topLevelKeys('{"a":{"a":1},"b":"x\\"y","c":[{"d":1}]}')).toEqual(['a', 'b', 'c']);
  });
});
