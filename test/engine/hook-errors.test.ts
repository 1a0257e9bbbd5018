import { afterEach, expect, it } from 'vitest';
import { formatStatus } from '../../tools/cli/format.ts';
import { waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Errors of ticks and other lifecycle hooks are counted like handlers' and
// shown by `rebind status` with the last error's location.

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('counts a tick that throws every frame and shows it, with where it threw, in status', async () => {
  t = await startServer(
    {
      'logic/broken.ts': `import type { Ctx } from '../server/api';
export function init(ctx: Ctx) {}
export function tick(ctx: Ctx, dt: number) {
  throw new Error('tick is broken');
}
export function oops(ctx: Ctx) { return (null as unknown as { x: number }).x; }
`,
    },
    { tickHz: 50 },
  );
  const hooks = () => t!.server.status().modules.find((m) => m.name === 'broken')!.hooks;
  await waitFor(() => (hooks().find((h) => h.name === 'tick')?.errors ?? 0) >= 3, 3000, 'tick errors to be counted');
  const tick = hooks().find((h) => h.name === 'tick')!;
  expect(tick.calls).toBeGreaterThanOrEqual(tick.errors);
  expect(tick.lastError).toMatchObject({ code: 'HANDLER_ERROR', message: 'tick is broken', location: { file: 'logic/broken.ts', line: 4 } });
  expect(hooks().find((h) => h.name === 'init')).toMatchObject({ calls: 1, errors: 0, lastError: null });

  expect(() => t!.server.host.call('broken.oops')).toThrow();
  const oops = t.server.status().modules.find((m) => m.name === 'broken')!.handlers.find((h) => h.name === 'broken.oops')!;
  expect(oops).toMatchObject({ calls: 1, errors: 1, lastError: { location: { file: 'logic/broken.ts', line: 6 } } });

  const text = formatStatus(t.server.status() as unknown as Parameters<typeof formatStatus>[0]);
  expect(text).toMatch(/tick \(hook\): \d+ call\(s\), \d+ error\(s\)/);
  expect(text).toContain('logic/broken.ts:4:');
  expect(text).toContain('tick is broken');
});
