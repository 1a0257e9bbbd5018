import { expect, it } from 'vitest';
import { MAX_DT_PERIODS, TickLoop } from '../../server/tick.ts';
import { openHost } from './hosts.ts';
import { RebindClient } from '../../client/index.ts';
import { startServer } from '../helpers/server.ts';

// A handler that holds the event loop is named, and the ticks it delayed are
// counted; the tick after a stall gets a bounded dt.

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('names a handler that kept the event loop busy and counts the late ticks it caused', async () => {
  const { host } = await openHost({ 'logic/slow.ts': `export function spin(ctx: unknown, ms: number) { const until = Date.now() + ms; while (Date.now() < until) {} }\n` });
  const loop = new TickLoop(50, () => undefined);
  loop.start();
  try {
    await pause(100);
    host.call('slow.spin', 600);
    await pause(100);
    expect(loop.stats.overruns).toBeGreaterThanOrEqual(1);
    expect(loop.stats.late).toBeGreaterThanOrEqual(1);
    expect(loop.stats.lastStall).toMatchObject({ cause: 'slow.spin' });
    expect(loop.stats.lastStall!.ms).toBeGreaterThanOrEqual(400);
    expect(loop.stats.loopDelayMaxMs).toBeGreaterThanOrEqual(400);
    expect(host.status().busy.last).toMatchObject({ name: 'slow.spin' });
    expect(host.status().busy.last!.ms).toBeGreaterThanOrEqual(400); // measured by a watchdog looking every 25-50 ms
  } finally {
    loop.stop();
  }
});

it('clamps dt after a long stall', async () => {
  const dts: number[] = [];
  const loop = new TickLoop(100, (dt) => dts.push(dt));
  loop.start();
  try {
    await pause(50);
    const until = Date.now() + 500;
    while (Date.now() < until);
    await pause(50);
  } finally {
    loop.stop();
  }
  expect(dts.length).toBeGreaterThan(2);
  expect(Math.max(...dts)).toBeLessThanOrEqual((MAX_DT_PERIODS * 10) / 1000 + 1e-9);
});

it('names a session.join that kept the event loop busy, though it runs inside the join transaction', async () => {
  const t = await startServer({
    'logic/session.ts': `import type { Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name: string }) { return p.name; }
export function join(ctx: Ctx) { const until = Date.now() + 600; while (Date.now() < until) {} }
`,
  });
  const client = new RebindClient(t.url);
  try {
    await client.connect();
    await client.join({ name: 'ann' });
    expect(t.server.host.status().busy.last).toMatchObject({ name: 'session.join' });
    expect(t.server.host.status().busy.last!.ms).toBeGreaterThanOrEqual(400); // measured by a watchdog looking every 25-50 ms
  } finally {
    client.close();
    await t.stop();
  }
});
