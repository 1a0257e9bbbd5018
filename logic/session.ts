import { fail, type Ctx, type SessionCtx } from 'rebind';
import { players, world } from '../state/arena.ts';
import { post } from './lib/chatlog.ts';

// Session hooks: the host calls these by name when a connection joins,
// drops, comes back, or leaves for good. Every hook but auth runs for a
// player, so its ctx (SessionCtx) has ctx.player as a string.

const COLORS = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6'];

/** The demo accepts a name; the same name is the same player. */
export function auth(ctx: Ctx, payload: { name?: unknown }): string {
  const name = typeof payload?.name === 'string' ? payload.name.trim() : '';
  if (!/^[\w -]{1,16}$/.test(name)) fail('BAD_NAME', 'a name is 1 to 16 letters, digits, spaces, - or _');
  return 'p-' + name.toLowerCase().replace(/\s+/g, '-');
}

export function join(ctx: SessionCtx): void {
  const id = ctx.player;
  const name = id.slice(2);
  const { width, height } = world.get();
  if (players.has(id)) players.update(id, (p) => void (p.online = true));
  else {
    let hash = 0;
    for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    players.set(id, { name, x: Math.round(Math.random() * width), y: Math.round(Math.random() * height), dx: 0, dy: 0, score: 0, color: COLORS[hash % COLORS.length]!, online: true });
  }
  ctx.join('arena');
  post('server', `${name} joined`);
  ctx.call('arena.rankings');
}

export function drop(ctx: SessionCtx): void {
  if (players.has(ctx.player)) players.update(ctx.player, (p) => ({ ...p, online: false, dx: 0, dy: 0 }));
}

export function resume(ctx: SessionCtx): void {
  if (players.has(ctx.player)) players.update(ctx.player, (p) => void (p.online = true));
}

export function leave(ctx: SessionCtx): void {
  const row = players.get(ctx.player);
  if (!row) return;
  players.delete(ctx.player);
  post('server', `${row.name} left`);
  ctx.call('arena.rankings');
}
