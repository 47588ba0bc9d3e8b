import { expect, test } from 'bun:test';
import { checkSource } from '../../scripts/lint.ts';

test('lint rules catch what they name and nothing else', () => {
  expect(checkSource('src/x.ts', 'console.log(1)\n').map((f) => f.rule)).toEqual(['no-console-log']);
  expect(checkSource('test/x.test.ts', 'console.log(1)\n')).toEqual([]);
  expect(checkSource('test/x.test.ts', "test.only('a', () => {})\n").map((f) => f.rule)).toEqual(['no-focused-tests']); // lint-allow no-focused-tests
  expect(checkSource('src/utils.ts', 'export const a = 1;\n').map((f) => f.rule)).toEqual(['file-name']);
  expect(checkSource('test/k.test.ts', "Bun.spawnSync(['kubectl', 'get'])\n").map((f) => f.rule)).toEqual(['no-spawn-sync-kubectl']); // lint-allow no-spawn-sync-kubectl
  expect(checkSource('src/a.ts', 'const x = 1; // console.log( lint-allow no-console-log\n')).toEqual([]);
  expect(checkSource('src/t.ts', "import { execFile } from 'node:child_process';\n").map((f) => f.rule)).toEqual(['no-child-process']);
  expect(checkSource('workers/w.ts', "Bun.spawn(['openssl'])\n").map((f) => f.rule)).toEqual(['no-child-process']);
  expect(checkSource('scripts/s.ts', "Bun.spawnSync(['git'])\n")).toEqual([]);
  expect(checkSource('src/long.ts', 'x\n'.repeat(700))[0]?.warn).toBe(true);
});
