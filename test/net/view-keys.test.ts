import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Any string is a key, also in a room view's paths: a player named
// "__proto__" whose view shows its own row must get that row, and nothing on
// the server may reach Object.prototype.

const STATE = `
import { defineTable } from '../server/api';
export const players = defineTable<{ pos: { x: number; y: number }; hp: number }>('players');
`;
const SESSION = `
import { type Ctx } from '../server/api';
import { players } from '../state/players';
export function auth(ctx: Ctx, p: { name: string; field: boolean }) { return p.name; }
export function join(ctx: Ctx) {
  const me = ctx.player!;
  players.set(me, { pos: { x: 1, y: 2 }, hp: 10 });
  ctx.setRoomView('row:' + me, { players: [me] });
  ctx.setRoomView('field:' + me, { players: [me + '.pos'] });
  ctx.join('row:' + me);
  ctx.join('field:' + me);
}
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/players.ts': STATE, 'logic/session.ts': SESSION });
});
afterAll(async () => t.stop());

it.each(['msgpack', 'json'] as const)('sends a row named __proto__ through a view path as an own key (%s)', async (encoding) => {
  const c = new RebindClient(t.url, { encoding, reconnect: false });
  try {
    await c.connect();
    await c.join({ name: '__proto__' });
    await waitFor(() => c.state('row:__proto__', 'players') !== undefined && c.state('field:__proto__', 'players') !== undefined, 3000, 'both rooms');
    const row = c.state<Record<string, unknown>>('row:__proto__', 'players')!;
    const field = c.state<Record<string, unknown>>('field:__proto__', 'players')!;
    expect(Object.keys(row)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toEqual({ pos: { x: 1, y: 2 }, hp: 10 });
    expect(Object.getOwnPropertyDescriptor(field, '__proto__')?.value).toEqual({ pos: { x: 1, y: 2 } });
    expect(({} as Record<string, unknown>).pos).toBeUndefined();
    expect(({} as Record<string, unknown>).hp).toBeUndefined();
  } finally {
    c.close();
  }
});
