import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGame, type TestGame } from 'rebind/testing';

// A session hook (join, resume, drop, leave of the session module) runs for a
// player. Called without one (rebind call without --as, a timer), it is
// refused with NEEDS_PLAYER before it runs: it once ran with ctx.player null
// and a table stored a row named "null". A table refuses a row id that is not
// a string, whoever writes it.

const STATE = `
import { defineTable } from 'rebind';
export const seen = defineTable<{ at: number }>('seen');
`;
const SESSION = `
import type { Ctx, SessionCtx } from 'rebind';
import { seen } from '../state/seen.ts';
export function auth(ctx: Ctx, payload: { name: string }) { return payload.name; }
export function join(ctx: SessionCtx) { seen.set(ctx.player, { at: 1 }); }
export function leave(ctx: SessionCtx) { seen.set(ctx.player, { at: 2 }); }
export function note(ctx: Ctx) { return ctx.player; }
`;
const OTHER = `
import type { Ctx } from 'rebind';
import { seen } from '../state/seen.ts';
// Same hook names outside the session module: plain internal handlers.
export function join(ctx: Ctx) { return ctx.player; }
export function badId(ctx: Ctx, payload: { id: unknown }) { seen.set(payload.id as string, { at: 3 }); }
export function badDelete(ctx: Ctx) { seen.delete(7 as unknown as string); }
export function viaCall(ctx: Ctx) { ctx.call('session.join'); }
`;

let game: TestGame;
beforeAll(async () => {
  game = await startGame({ root: '/nonexistent-game', files: { 'state/seen.ts': STATE, 'logic/session.ts': SESSION, 'logic/other.ts': OTHER } });
});
afterAll(async () => {
  await game?.stop();
});

describe('session hooks without a player', () => {
  it('refuses session.join and session.leave with NEEDS_PLAYER and writes nothing', async () => {
    for (const hook of ['session.join', 'session.leave']) {
      await expect(game.call(hook)).rejects.toMatchObject({ code: 'NEEDS_PLAYER', message: expect.stringContaining('--as') });
    }
    expect(game.state('seen')).toEqual({});
  });

  it('refuses a hook reached by ctx.call from a call that has no player', async () => {
    await expect(game.call('other.viaCall')).rejects.toMatchObject({ code: 'NEEDS_PLAYER' });
    expect(game.state('seen')).toEqual({});
  });

  it('runs the hook for a player, and leaves auth, other session handlers and other modules alone', async () => {
    await game.call('session.join', null, 'p-ann');
    expect(game.state('seen')).toEqual({ 'p-ann': { at: 1 } });
    expect(await game.call('session.auth', { name: 'p-bob' })).toBe('p-bob');
    expect(await game.call('session.note')).toBeNull();
    expect(await game.call('other.join')).toBeNull();
    await game.call('other.viaCall', null, 'p-cat');
    expect(game.state('seen')).toMatchObject({ 'p-cat': { at: 1 } });
  });

  it('a real player joining over a socket still runs join with its id', async () => {
    await game.player('p-dan');
    await expect.poll(() => (game.state('seen') as Record<string, unknown>)['p-dan']).toEqual({ at: 1 });
  });
});

describe('table row ids', () => {
  it.each([null, undefined, 5, { a: 1 }])('refuses %s as a row id with BAD_ROW_ID', async (id) => {
    await expect(game.call('other.badId', { id })).rejects.toMatchObject({ code: 'BAD_ROW_ID', message: expect.stringContaining('seen: a row id must be a string') });
    expect(Object.keys(game.state('seen') as object)).not.toContain(String(id));
  });

  it('refuses a delete by a number', async () => {
    await expect(game.call('other.badDelete')).rejects.toMatchObject({ code: 'BAD_ROW_ID' });
  });
});
