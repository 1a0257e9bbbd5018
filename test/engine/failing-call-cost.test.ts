import { expect, it } from 'vitest';
import { openHost } from './hosts.ts';

// A caught failing ctx.call costs about what a successful one does: where
// the error came from (formatting its stack and mapping it to logic/) is
// worked out only when status or a log line needs it, and once per error.
// The stack reads are counted here rather than timed.

it('does not format the stack of an error that a caller catches, until status shows it', async () => {
  const { host } = await openHost({
    'logic/m.ts': `import { fail, type Ctx } from '../server/api';
let reads = 0;
export function bad() {
  try {
    fail('NOPE', 'no');
  } catch (err) {
    const stack = (err as Error).stack;
    Object.defineProperty(err, 'stack', { get() { reads++; return stack; } });
    throw err;
  }
}
export function loop(ctx: Ctx, n: number) { let caught = 0; for (let i = 0; i < n; i++) { try { ctx.call('m.bad'); } catch { caught++; } } return caught; }
export function stackReads() { return reads; }
`,
  });
  expect(host.call('m.loop', 200)).toBe(200);
  expect(host.call('m.stackReads')).toBe(0);
  const bad = host.status().modules.find((m) => m.name === 'm')!.handlers.find((h) => h.name === 'm.bad')!;
  expect(bad).toMatchObject({ calls: 200, errors: 200, lastError: { code: 'NOPE', message: 'no', location: { file: 'logic/m.ts', line: 5 } } });
  expect(JSON.parse(JSON.stringify(bad.lastError))).toMatchObject({ code: 'NOPE', location: { file: 'logic/m.ts', line: 5 } });
  expect(host.call('m.stackReads')).toBe(1);
});
