import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

// An async tick or dispose that rejects is counted like a handler's error,
// with where it threw, and is never an unhandled rejection: embedded (a
// GameServer in a game's own process, which has no process-level handler)
// the first one would end the process. In a child process of its own, so that
// Node's default for unhandled rejections applies.
it('counts rejections of an async tick and dispose, with their location, and keeps an embedded server alive', async () => {
  const script = fileURLToPath(new URL('../fixtures/async-hooks.ts', import.meta.url));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    tick: { calls: number; errors: number; lastError: { message: string; location?: { file: string; line: number } } };
    dispose: { calls: number; errors: number; lastError: { message: string; location?: { file: string; line: number } } };
    patched: boolean;
    ping: string;
  };
  expect(result.tick.errors).toBeGreaterThan(0);
  expect(result.tick.lastError).toMatchObject({ message: 'async tick failed', location: { file: 'logic/m.ts', line: 4 } });
  expect(result.patched).toBe(true);
  expect(result.ping).toBe('pong 2');
  expect(result.dispose).toMatchObject({ calls: 1, errors: 1, lastError: { message: 'async dispose failed', location: { file: 'logic/m.ts', line: 6 } } });
}, 90_000);
