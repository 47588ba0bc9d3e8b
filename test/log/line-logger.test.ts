// The workers' line logger must write what pino writes in the main thread (createLogger): same fields in the same
// order, levels, redaction and error shape. Each case is logged through both and compared byte for byte (time aside).
import { describe, expect, test } from 'bun:test';
import { createLineLogger, REDACT_KEYS } from '../../src/log/line-logger.ts';
import { createLogger, type Logger, type LogLevel } from '../../src/log/logger.ts';

function both(level: LogLevel, call: (log: Logger) => void): [string[], string[]] {
  const viaPino: string[] = [];
  const viaLines: string[] = [];
  call(createLogger({ level, name: 'tunnel', sink: (l) => viaPino.push(l) }));
  call(createLineLogger({ level, base: { pid: process.pid, component: 'tunnel' }, redactKeys: new Set(REDACT_KEYS), write: (l) => viaLines.push(l) }));
  const untimed = (l: string) => l.replace(/"time":"[^"]+"/, '"time":"T"');
  return [viaPino.map(untimed), viaLines.map(untimed)];
}

describe('line logger (workers) writes what pino writes', () => {
  const err = Object.assign(new Error('dial failed'), { code: 'ECONNREFUSED' });
  const cases: [string, LogLevel, (log: Logger) => void][] = [
    ['a message alone', 'info', (l) => l.info('session registered')],
    ['fields and a message', 'info', (l) => l.warn({ request_id: 'r1', status: 502, nested: { a: [1, 'x'] } }, 'backend answered 502')],
    ['fields without a message', 'info', (l) => l.info({ n: 1 })],
    ['below the level: nothing', 'warn', (l) => (l.info('hidden'), l.debug({ a: 1 }, 'hidden'))],
    ['every level at trace', 'trace', (l) => (l.trace('t'), l.debug('d'), l.info('i'), l.warn('w'), l.error('e'), l.fatal('f'))],
    ['child bindings, repeated keys keep the first position and the last value', 'info', (l) => l.child({ component: 'l4', stream: 3 }).child({ stream: 4 }).info({ pid: 7 }, 'hello')],
    ['secret keys redacted at the top level and one level down', 'info', (l) => l.info({ token: 'abc', headers: { authorization: 'Bearer x', accept: '*/*' }, cluster_token: 't', k8s_service_token: 's', password: 'p' }, 'secrets')],
    ['an Error as the fields', 'info', (l) => l.error(err, 'dial')],
    ['an Error without a message', 'info', (l) => l.error(err)],
    ['an Error in err', 'info', (l) => l.warn({ err, attempt: 2 }, 'retrying')],
    ['undefined fields are left out', 'info', (l) => l.info({ a: undefined, b: null }, 'x')],
  ];
  for (const [name, level, call] of cases) {
    test(name, () => {
      const [viaPino, viaLines] = both(level, call);
      expect(viaLines).toEqual(viaPino);
    });
  }

  test('isLevelEnabled answers as pino does, for every level at every threshold', () => {
    const levels: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
    for (const at of levels) {
      let pino: Logger | undefined;
      let lines: Logger | undefined;
      both(at, (l) => (pino ? (lines = l) : (pino = l)));
      for (const q of levels) expect([at, q, lines!.isLevelEnabled(q)]).toEqual([at, q, pino!.isLevelEnabled(q)]);
    }
  });

  test('the lines are JSON, one per call, newline-terminated', () => {
    const [, lines] = both('info', (l) => (l.info('a'), l.warn({ b: 1 }, 'c')));
    expect(lines.length).toBe(2);
    for (const l of lines) {
      expect(l.endsWith('\n')).toBe(true);
      expect(JSON.parse(l).component).toBe('tunnel');
    }
  });
});
