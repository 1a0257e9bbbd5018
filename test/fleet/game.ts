// The game the fleet tests run on every node: players enter rooms by name
// (placed across the fleet), tell each other things, shout in rooms, and ask
// a room's node to count for them (ctx.callRoom).

export const FLEET_GAME: Record<string, string> = {
  'state/tally.ts': `
import { defineStore } from '../server/api';
export const tally = defineStore('tally', { byRoom: {} as Record<string, number> });
`,
  'logic/session.ts': `
import { fail, type Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string' || p.name.length === 0) fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) {}
`,
  'logic/game.ts': `
import { client, type Ctx } from '../server/api';
import { tally } from '../state/tally';
export const enter = client((ctx, p: { room: string }) => { ctx.join(p.room); return { room: p.room, player: ctx.player }; });
export const tell = client((ctx, p: { to: string; text: string }) => { ctx.send(p.to, 'told', { from: ctx.player, text: p.text }); return true; });
export const shout = client((ctx, p: { room: string; text: string }) => { ctx.broadcast(p.room, 'shout', { from: ctx.player, text: p.text }); return true; });
export const count = client((ctx, p: { room: string }) => ctx.callRoom(p.room, 'game.bump', { room: p.room }));
export function bump(ctx: Ctx, p: { room: string }) {
  tally.update((d) => { d.byRoom[p.room] = (d.byRoom[p.room] ?? 0) + 1; });
  return tally.get().byRoom[p.room];
}
`,
};
