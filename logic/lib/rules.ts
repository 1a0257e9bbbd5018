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

/** Items in the arena at start. */
export const ITEM_COUNT = { gem: 12, star: 3 } as const;

export const CHAT_KEEP = 30;

export function clamp(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(high, value));
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
