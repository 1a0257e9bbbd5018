import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep } from '../helpers/project.ts';
import { joinedSocket, RawSocket, startServer, type TestServer } from '../helpers/server.ts';

// Replies have a size cap; a room snapshot bigger than the send-buffer limit
// still reaches every joiner (default limits: 4 MB buffer, 4 MB replies).

const STATE = `
import { defineStore } from '../server/api';
export const world = defineStore('world', { tiles: [] as string[] });
`;

const GAME = `
import { client, type Ctx } from '../server/api';
import { world } from '../state/world';
export function init(ctx: Ctx) {
  // About 6 MB: over the 4 MB send buffer.
  world.update((d) => { d.tiles = Array.from({ length: 6000 }, (_, i) => String(i).padEnd(1000, '.')); });
  ctx.setRoomView('map', { world: true });
}
export const huge = client((ctx: Ctx, p: { mb: number }) => 'x'.repeat(p.mb * 1024 * 1024));
export const small = client(() => 'ok');
export const enter = client((ctx: Ctx) => { ctx.join('map'); return true; });
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/world.ts': STATE, 'logic/game.ts': GAME });
});
afterAll(async () => t.stop());

it('refuses a reply over the cap with REPLY_TOO_LARGE and keeps the connection', async () => {
  const s = await joinedSocket(t.url, 'asker');
  s.sendBinary(['game.huge', 7, { mb: 5 }]);
  const [seq, failed, error] = await s.reply(10_000);
  expect([seq, failed, error.code]).toEqual([7, 1, 'REPLY_TOO_LARGE']);
  expect(error.message).toMatch(/over the limit of 4194304/);
  s.sendText(['game.huge', 8, { mb: 1 }]);
  expect((await s.reply(10_000))[1]).toBe(0);
  s.sendBinary(['game.small', 9, null]);
  expect(await s.reply()).toEqual([9, 0, 'ok']);
  s.close();
});

it('sends a 6 MB room snapshot to every joiner without calling any of them slow', async () => {
  const joiners: RawSocket[] = [];
  for (let i = 0; i < 6; i++) joiners.push(await joinedSocket(t.url, `j${i}`));
  for (const [i, s] of joiners.entries()) s.sendBinary(['game.enter', 100 + i, null]);
  for (const s of joiners) {
    const state = await s.push('$state', 20_000);
    expect(state.stores.world.tiles).toHaveLength(6000);
    expect((await s.reply(20_000))[1]).toBe(0);
  }
  await sleep(500);
  expect(joiners.every((s) => s.ws.readyState === 1)).toBe(true);
  expect(t.server.gateway.connectionCount).toBe(6);
  for (const s of joiners) s.close();
}, 60_000);
