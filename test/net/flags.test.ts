import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// A negative number given to a numeric flag gets the flag's range message,
// not parseArgs' "argument is ambiguous".

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

it.each([
  ['--max-per-address', '-1', '--max-per-address must be a whole number from 0 to 1000000, got "-1"'],
  ['--grace', '-5', '--grace must be a whole number from 0 to 86400, got "-5"'],
])('%s %s is refused with the range it takes', (flag, value, message) => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN, flag, value], { encoding: 'utf8', timeout: 30_000 });
  expect(run.status).toBe(2);
  expect(run.stderr.split('\n')[0]).toBe(`rebind: ${message}`);
}, 40_000);
