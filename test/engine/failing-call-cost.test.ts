import { expect, it } from 'vitest';
import { openHost } from './hosts.ts';

// A caught failing ctx.call costs about what a successful one does: where
// the error came from (formatting its stack and mapping it to logic/) is
// worked out only when status or a log line needs it, and once per error.
// V8 formats a stack when it is first read, through Error.prepareStackTrace:
// the formattings of this error are counted there rather than timed. (A
// counting `stack` getter defined by logic would not do: the host never runs
// a getter of logic's on a thrown value, thrown.ts.)

it('does not format the stack of an error that a caller catches, until status shows it', async () => {
  const { host } = await openHost({
    'logic/m.ts': `import { fail, type Ctx } from '../server/api';
export function bad() {
  fail('NOPE', 'no');
}
export function loop(ctx: Ctx, n: number) { let caught = 0; for (let i = 0; i < n; i++) { try { ctx.call('m.bad'); } catch { caught++; } } return caught; }
`,
  });
  const original = Error.prepareStackTrace;
  let formatted = 0;
  Error.prepareStackTrace = (err, frames) => {
    if (err.message === 'no') formatted++;
    return original ? original(err, frames) : `${err.name}: ${err.message}\n${frames.map((frame) => `    at ${frame}`).join('\n')}`;
  };
  try {
    expect(host.call('m.loop', 200)).toBe(200);
    expect(formatted).toBe(0);
    const bad = host.status().modules.find((m) => m.name === 'm')!.handlers.find((h) => h.name === 'm.bad')!;
    expect(bad).toMatchObject({ calls: 200, errors: 200, lastError: { code: 'NOPE', message: 'no', location: { file: 'logic/m.ts', line: 3 } } });
    expect(JSON.parse(JSON.stringify(bad.lastError))).toMatchObject({ code: 'NOPE', location: { file: 'logic/m.ts', line: 3 } });
    expect(formatted).toBe(1);
  } finally {
    Error.prepareStackTrace = original;
  }
});
