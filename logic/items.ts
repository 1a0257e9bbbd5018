import type { Ctx } from 'rebind';
import { items, world, type Item } from '../state/arena.ts';

// Items come back through ctx.schedule('items.spawn', ...): the timer holds a
// name, so it always runs the newest code, and it survives patches.

export function spawn(ctx: Ctx, payload: { kind: Item['kind'] }): string {
  const { width, height } = world.get();
  const id = `i${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const margin = 20;
  items.set(id, {
    kind: payload.kind === 'star' ? 'star' : 'gem',
    x: Math.round(margin + Math.random() * (width - 2 * margin)),
    y: Math.round(margin + Math.random() * (height - 2 * margin)),
  });
  return id;
}
