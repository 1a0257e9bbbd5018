import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// REBIND_LOG: a level in any case is that level; one that is none says so
// once, on the log's stream, instead of silently logging at info.

const LOG = fileURLToPath(new URL('../../server/log.ts', import.meta.url));

function logWith(level: string): string[] {
  const script = `const { createLogger } = await import(${JSON.stringify(LOG)}); const log = createLogger('t'); log.debug('a debug line'); log.info('an info line');`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, REBIND_LOG: level }, timeout: 30_000 });
  expect(run.stderr).toBe('');
  return run.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
}

it('REBIND_LOG=DEBUG is debug', () => {
  expect(logWith('DEBUG')).toEqual(['a debug line', 'an info line']);
}, 40_000);

it('REBIND_LOG=bogus warns once that it is not a level, and logs at info', () => {
  expect(logWith('bogus')).toEqual([expect.stringMatching(/^REBIND_LOG="bogus" is not a level \(debug, info, warn, error, silent\); logging at info$/), 'an info line']);
}, 40_000);
