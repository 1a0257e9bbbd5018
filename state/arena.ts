import { defineStore, defineTable } from 'rebind';

// The demo arena's data. Everything that must survive a patch lives here.

export interface Player {
  name: string;
  x: number;
  y: number;
  /** Movement intent, each -1, 0 or 1; the tick moves the player. */
  dx: number;
  dy: number;
  score: number;
  color: string;
  online: boolean;
}

export interface Item {
  x: number;
  y: number;
  kind: 'gem' | 'star';
}

export interface ChatLine {
  at: number;
  from: string;
  text: string;
}

export const players = defineTable<Player>('players', { version: 1 });
export const items = defineTable<Item>('items', { version: 1 });
export const world = defineStore(
  'world',
  {
    width: 800,
    height: 600,
    chat: [] as ChatLine[],
    leaderboard: [] as Array<{ name: string; score: number }>,
  },
  { version: 1 },
);
