// The arena's tuning. Change a number, save, and every module that uses it
// is rebuilt and swapped in one patch.

/** Movement speed in pixels per second. */
export const SPEED = 200;

/** Points for picking up each kind of item. */
export const ITEM_SCORE = { gem: 1, star: 5 } as const;

/** How close a player must come to pick an item up. */
export const PICKUP_RADIUS = 18;

/** How long a picked-up item takes to come back, in milliseconds. */
export const RESPAWN_MS = 3000;

/** The kinds of item, as state/arena.ts's Item['kind'] names them. */
export const ITEM_KINDS = ['gem', 'star'] as const;

/** Items in the arena at start. */
export const ITEM_COUNT = { gem: 12, star: 3 } as const;

export const CHAT_KEEP = 30;

/** How far a player sees other players, in pixels (0: everyone sees everyone). */
export const VIEW_RADIUS = 150;

export function clamp(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(high, value));
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Distance from point (px, py) to the segment (ax, ay)-(bx, by): pickups along a fast move are not skipped. */
export function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const length2 = vx * vx + vy * vy;
  const t = length2 === 0 ? 0 : clamp(((px - ax) * vx + (py - ay) * vy) / length2, 0, 1);
  return Math.hypot(px - (ax + t * vx), py - (ay + t * vy));
}
