import { expect, test } from 'bun:test';
import { parseTail } from '../../src/agent/realtime-payloads.ts';

test('tail: default 100, clamped to capacity and zero, garbage falls back', () => {
  expect(parseTail(undefined, 500)).toBe(100);
  expect(parseTail(undefined, 50)).toBe(50);
  expect(parseTail('7', 500)).toBe(7);
  expect(parseTail('9999', 500)).toBe(500);
  expect(parseTail('-3', 500)).toBe(0);
  expect(parseTail('abc', 500)).toBe(100);
});
