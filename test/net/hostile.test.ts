import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { COUNTER_STATE, sleep } from '../helpers/project.ts';
import { joinedSocket, RawSocket, startServer, type TestServer } from '../helpers/server.ts';

const GAME = `
import { client } from '../server/api';
import { counter } from '../state/counter';
export const read = client(() => counter.get().n);
export const write = client((ctx: unknown, p: { n: number }) => { counter.update((d) => { d.n = p.n; }); return true; });
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/counter.ts': COUNTER_STATE, 'logic/game.ts': GAME });
});
afterAll(async () => t.stop());

it('keeps serving others, bounds its memory and changes no store while clients send garbage and floods', async () => {
  const good = new RebindClient(t.url, { reconnect: false });
  await good.connect();
  await good.join({ name: 'good' });
  const counter = t.server.host.registry.get('counter');
  const before = (counter as unknown as { get(): unknown }).get();
  const heapBefore = process.memoryUsage().heapUsed;

  let served = 0;
  let stop = false;
  const steady = (async () => {
    while (!stop) {
      expect(await good.call('game.read')).toBe(0);
      served++;
      await sleep(5);
    }
  })();

  const attackers: Array<Promise<unknown>> = [];
  // Random bytes, as binary and as text.
  attackers.push(
    (async () => {
      const s = new RawSocket(t.url);
      await s.open();
      for (let i = 0; i < 50 && s.ws.readyState === 1; i++) s.sendRaw(randomBytes(1 + (i % 200)), i % 2 === 0);
      return s.closed;
    })(),
  );
  // Truncated MessagePack of a real request that would change the store.
  attackers.push(
    (async () => {
      const s = await joinedSocket(t.url, 'trunc');
      const full = new Packr({ useRecords: false }).pack(['game.write', 5, { n: 999 }]);
      for (let cut = 1; cut < full.length && s.ws.readyState === 1; cut++) s.sendRaw(full.subarray(0, cut));
      return s.closed;
    })(),
  );
  // A 10 MB frame.
  attackers.push(
    (async () => {
      const s = await joinedSocket(t.url, 'huge');
      s.sendRaw(Buffer.alloc(10 * 1024 * 1024, 0x91));
      return s.closed;
    })(),
  );
  // 10,000 messages in one second that would each change the store.
  attackers.push(
    (async () => {
      const s = await joinedSocket(t.url, 'flood');
      const packr = new Packr({ useRecords: false });
      for (let i = 0; i < 10; i++) {
        for (let j = 0; j < 1000 && s.ws.readyState === 1; j++) s.sendRaw(packr.pack(['game.nothing', i * 1000 + j + 1, { n: i }]));
        await sleep(100);
      }
      s.close();
    })(),
  );

  const closes = (await Promise.all(attackers)).filter(Boolean) as Array<{ code: number; reason: string }>;
  await sleep(200);
  stop = true;
  await steady;

  const [randomClose, truncatedClose, hugeClose] = closes;
  // Invalid UTF-8 in a text frame is refused by ws itself with 1007; bad frames by rebind with 1008.
  expect([1007, 1008]).toContain(randomClose!.code);
  expect(truncatedClose).toEqual({ code: 1008, reason: 'too many bad frames' });
  expect(hugeClose!.code).toBe(1009);
  expect(served).toBeGreaterThan(20);
  expect(good.connected).toBe(true);
  expect((counter as unknown as { get(): unknown }).get()).toBe(before);
  if (global.gc) global.gc();
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 2 ** 20);
  good.close();
});
