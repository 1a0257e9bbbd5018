import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGame, type TestGame } from 'rebind/testing';

// docs/api.md: a client handler called without a player is refused with
// NEEDS_PLAYER where it reads ctx.player. What it wrote in the same
// synchronous run is dropped; what an async handler wrote before an await
// has already committed (after an await each write commits on its own).

const STATE = `
import { defineStore } from 'rebind';
export const log = defineStore('log', { lines: [] as string[] }, { version: 1 });
`;
const LOGIC = `
import { client } from 'rebind';
import { log } from '../state/log.ts';
export const syncRead = client((ctx) => {
  log.update((d) => { d.lines.push('sync before'); });
  return ctx.player;
});
export const asyncRead = client(async (ctx) => {
  log.update((d) => { d.lines.push('async before await'); });
  await Promise.resolve();
  const who = ctx.player;
  log.update((d) => { d.lines.push('async after read'); });
  return who;
});
`;

let game: TestGame;
beforeAll(async () => {
  game = await startGame({ root: '/nonexistent-game', files: { 'state/log.ts': STATE, 'logic/h.ts': LOGIC } });
});
afterAll(async () => {
  await game?.stop();
});

describe('NEEDS_PLAYER', () => {
  it('drops what the synchronous run wrote before ctx.player was read', async () => {
    await expect(game.call('h.syncRead')).rejects.toMatchObject({ code: 'NEEDS_PLAYER' });
    expect(game.state('log')).toEqual({ lines: [] });
  });

  it('keeps what an async handler wrote before an await, as docs/api.md says, and runs nothing after the read', async () => {
    await expect(game.call('h.asyncRead')).rejects.toMatchObject({ code: 'NEEDS_PLAYER' });
    expect(game.state('log')).toEqual({ lines: ['async before await'] });
    expect(await game.call('h.asyncRead', null, 'p-ann')).toBe('p-ann');
  });
});
