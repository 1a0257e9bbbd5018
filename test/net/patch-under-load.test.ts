import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { COUNTER_STATE } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const handler = (version: number) => `
import { client } from '../server/api';
import { counter } from '../state/counter';
export const hit = client(() => { counter.update((d) => { d.n++; }); return ${version}; });
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/counter.ts': COUNTER_STATE, 'logic/load.ts': handler(0) }, { limits: { ratePerSecond: 10_000, rateBurst: 10_000 } });
});
afterAll(async () => t.stop());

it('answers every request exactly once while the handler is patched 10 times under 200 clients', async () => {
  const clients = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const c = new RebindClient(t.url, { reconnect: false });
      await c.connect();
      await c.join({ name: `u${i}` });
      return c;
    }),
  );
  let closes = 0;
  for (const c of clients) c.on('close', () => closes++);
  const versionsSeen = new Set<number>();
  let replies = 0;
  const load = Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < 50; i++) {
        versionsSeen.add(await c.call<number>('load.hit'));
        replies++;
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  const patches: boolean[] = [];
  for (let v = 1; v <= 10; v++) {
    t.project.write('logic/load.ts', handler(v));
    patches.push((await t.server.host.patch(['load'])).ok);
    await new Promise((r) => setTimeout(r, 20));
  }
  await load;
  expect(patches).toEqual(Array(10).fill(true));
  expect(replies).toBe(200 * 50);
  expect(closes).toBe(0);
  expect(clients.reduce((sum, c) => sum + c.unmatchedReplies, 0)).toBe(0);
  expect((t.server.host.registry.get('counter') as unknown as { get(): { n: number } }).get().n).toBe(200 * 50);
  expect(versionsSeen.size).toBeGreaterThan(2); // calls really ran on several versions
  expect(t.server.gateway.stats.errors).toBe(0);
  for (const c of clients) c.close();
});
