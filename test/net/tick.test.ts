import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const mod = (label: string, busyMs: number) => `
import type { Ctx } from '../server/api';
import { sessionLog } from '../state/session-log';
export function tick(ctx: Ctx, dt: number) {
  const until = Date.now() + ${busyMs};
  while (Date.now() < until) {}
  if (sessionLog.get().length < 3 || sessionLog.get().at(-1) !== '${label}') sessionLog.update((d) => { d.push('${label}'); });
}
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'logic/ticker.ts': mod('v1', 0) }, { tickHz: 50 });
});
afterAll(async () => t.stop());

it('calls every module\'s tick at a fixed rate, by name, and reports overruns', async () => {
  const log = () => (t.server.host.registry.get('sessionLog') as unknown as { get(): string[] }).get();
  await waitFor(() => log().includes('v1'), 2000, 'the first tick');
  const before = t.server.tick.stats.ticks;
  await sleep(500);
  const ticks = t.server.tick.stats.ticks - before;
  expect(ticks).toBeGreaterThanOrEqual(15); // 25 nominal; a busy CI machine may skip a few
  expect(ticks).toBeLessThanOrEqual(30);
  expect(t.server.tick.stats.overruns).toBe(0);
  t.project.write('logic/ticker.ts', mod('v2', 30));
  expect((await t.server.host.patch()).ok).toBe(true);
  await waitFor(() => log().at(-1) === 'v2', 2000, 'the patched tick');
  await waitFor(() => t.server.tick.stats.overruns > 3, 3000, 'overruns to be counted');
  expect(t.server.tick.stats.maxMs).toBeGreaterThanOrEqual(29);
});
