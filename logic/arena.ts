import { client, type Ctx } from 'rebind';
import { items, players, world, type Player } from '../state/arena.ts';
import { clamp, distanceToSegment, ITEM_COUNT, ITEM_KINDS, ITEM_SCORE, PICKUP_RADIUS, RESPAWN_MS, round1, SPEED, VIEW_RADIUS } from './lib/rules.ts';

// Movement, pickups and the leaderboard. Clients say where they want to go;
// the tick moves everyone at SPEED.

export function init(ctx: Ctx): void {
  // Each player sees the players within VIEW_RADIUS of itself (rows enter and leave as they move).
  ctx.setRoomView('arena', { players: VIEW_RADIUS > 0 ? { near: { radius: VIEW_RADIUS } } : true, items: true, world: true });
  if (items.size === 0) {
    for (const kind of ITEM_KINDS) {
      for (let i = 0; i < ITEM_COUNT[kind]; i++) ctx.call('items.spawn', { kind });
    }
  }
}

function direction(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.sign(value) : 0;
}

/** Sets the caller's movement intent: dx and dy each -1, 0 or 1. */
// A client() handler runs for a player: ctx.player is a string here.
export const move = client((ctx, payload: { dx?: unknown; dy?: unknown }) => {
  const dx = direction(payload?.dx);
  const dy = direction(payload?.dy);
  const me = players.get(ctx.player);
  if (!me) return null;
  if (me.dx !== dx || me.dy !== dy) players.assign(ctx.player, { dx, dy });
  return { x: me.x, y: me.y };
});

export function tick(ctx: Ctx, dt: number): void {
  const { width, height } = world.get();
  let scored = false;
  for (const [id, p] of players.entries()) {
    if (p.dx === 0 && p.dy === 0) continue;
    const norm = p.dx !== 0 && p.dy !== 0 ? Math.SQRT1_2 : 1;
    const x = round1(clamp(p.x + p.dx * norm * SPEED * dt, 0, width));
    const y = round1(clamp(p.y + p.dy * norm * SPEED * dt, 0, height));
    if (x === p.x && y === p.y) continue;
    players.assign(id, { x, y });
    scored = pickUp(ctx, id, p, x, y) || scored;
  }
  if (scored) rankings(ctx);
}

/** Picks up every item within reach of the path from `from` to (x, y). */
function pickUp(ctx: Ctx, id: string, from: Player, x: number, y: number): boolean {
  let scored = false;
  for (const [itemId, item] of items.entries()) {
    if (distanceToSegment(item.x, item.y, from.x, from.y, x, y) > PICKUP_RADIUS) continue;
    items.delete(itemId);
    players.update(id, (d) => void (d.score += ITEM_SCORE[item.kind]));
    ctx.schedule(RESPAWN_MS, 'items.spawn', { kind: item.kind });
    ctx.send(id, 'picked', { kind: item.kind, points: ITEM_SCORE[item.kind] });
    scored = true;
  }
  return scored;
}

/** Recomputes the top five. */
export function rankings(ctx: Ctx): void {
  const top = [...players.values()]
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
    .slice(0, 5)
    .map((p) => ({ name: p.name, score: p.score }));
  const now = world.get().leaderboard;
  if (JSON.stringify(now) !== JSON.stringify(top)) world.update((w) => void (w.leaderboard = top));
}

/** Puts a player somewhere (internal: for operators through `rebind call`, and for tests). */
export function place(ctx: Ctx, payload: { player: string; x: number; y: number }): void {
  const { width, height } = world.get();
  players.assign(payload.player, { x: clamp(payload.x, 0, width), y: clamp(payload.y, 0, height) });
}

/** The code version a client can show: proves a patch landed. */
export const info = client(() => ({ speed: SPEED, itemScore: ITEM_SCORE, viewRadius: VIEW_RADIUS }));
