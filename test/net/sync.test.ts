import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDelta } from '../../client/delta.ts';
import { RebindClient } from '../../client/index.ts';
import type { WirePatch } from '../../client/replica.ts';
import { waitFor } from '../helpers/project.ts';
import { joinedSocket, RawSocket, startServer, type TestServer } from '../helpers/server.ts';

const STATE = `
import { defineStore, defineTable } from '../server/api';
export const board = defineTable<{ x: number; secret: string }>('board');
export const settings = defineStore('settings', { public: { speed: 1 }, private: { key: 'k' } });
`;
const LOGIC = `
import { client, type Ctx } from '../server/api';
import { board, settings } from '../state/board';
export function init(ctx: Ctx) {
  ctx.setRoomView('lobby', { board: true, settings: ['public'] });
  ctx.setRoomView('cfg', { settings: true });
}
export const moveTo = client((ctx: Ctx, p: { room: string }) => { ctx.leave('lobby'); ctx.join(p.room); });
export const place = client((ctx: Ctx, p: { x: number }) => { board.set(ctx.player!, { x: p.x, secret: 's' }); });
export const nudge = client((ctx: Ctx) => { board.update(ctx.player!, (d) => { d.x += 1; }); });
export const tune = client((ctx: Ctx, p: { speed: number }) => { settings.update((d) => { d.public.speed = p.speed; d.private.key = 'changed'; }); });
export const reset = client(() => { settings.update(() => ({ public: { speed: 0 }, private: { key: 'r' } })); });
export const badView = client((ctx: Ctx) => { board.set('x', { x: 1, secret: '' }); ctx.setRoomView('lobby', { nosuchstore: true }); });
export const burst = client((ctx: Ctx) => { for (let i = 0; i < 5; i++) board.update(ctx.player!, (d) => { d.x += 1; }); });
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/board.ts': STATE, 'logic/board.ts': LOGIC });
});
afterAll(async () => t.stop());

describe('state sync', () => {
  it('sends a snapshot on join, then the patches since, and only the paths the view shows', async () => {
    const a = new RebindClient(t.url, { reconnect: false });
    const b = new RebindClient(t.url, { encoding: 'json', reconnect: false });
    await a.connect();
    await b.connect();
    await a.join({ name: 'a' });
    await a.call('board.place', { x: 1 });
    await b.join({ name: 'b' });
    await waitFor(() => b.state<Record<string, unknown>>('lobby', 'board')?.['p-a'] !== undefined, 2000, 'b\'s snapshot');
    expect(b.state('lobby', 'settings')).toEqual({ public: { speed: 1 } });
    await b.call('board.place', { x: 10 });
    await a.call('board.nudge');
    await a.call('board.tune', { speed: 3 });
    const expected = { 'p-a': { x: 2, secret: 's' }, 'p-b': { x: 10, secret: 's' } };
    await waitFor(() => JSON.stringify(a.state('lobby', 'board')) === JSON.stringify(expected), 2000, 'a to see both');
    await waitFor(() => JSON.stringify(b.state('lobby', 'board')) === JSON.stringify(expected), 2000, 'b to see both');
    await waitFor(() => (b.state('lobby', 'settings') as { public: { speed: number } }).public.speed === 3, 2000, 'the speed');
    expect(b.state('lobby', 'settings')).toEqual({ public: { speed: 3 } }); // never the private part
    // A wholesale replacement of a store above the viewed path resends the view.
    await a.call('board.reset');
    await waitFor(() => (a.state('lobby', 'settings') as { public: { speed: number } }).public.speed === 0, 2000, 'the resent view');
    expect(a.state('lobby', 'settings')).toEqual({ public: { speed: 0 } });
    a.close();
    b.close();
  });

  it('sends a room only the stores its view shows', async () => {
    const cfg = await joinedSocket(t.url, 'cfg');
    cfg.sendBinary(['board.moveTo', 1, { room: 'cfg' }]);
    const state = await cfg.push('$state');
    expect(state.room).toBe('cfg');
    expect(Object.keys(state.stores)).toEqual(['settings']);
    const other = await joinedSocket(t.url, 'other');
    other.sendBinary(['board.place', 2, { x: 9 }]);
    other.sendBinary(['board.tune', 3, { speed: 11 }]);
    const delta = await cfg.push('$delta');
    expect(delta[0]).toBe('cfg');
    const patches = readDelta(delta, [...state.keys, ...delta[1]], 2);
    expect(patches.every((p) => p.path[0] === 'settings')).toBe(true);
    expect(patches).toContainEqual({ op: 'replace', path: ['settings', 'private', 'key'], value: 'changed' });
    cfg.close();
    other.close();
  });

  it('fails the handler that sets a view naming a store that does not exist, and keeps the old view', async () => {
    const s = await joinedSocket(t.url, 'viewer');
    s.sendBinary(['board.badView', 1, null]);
    expect((await s.reply())[2]).toMatchObject({ code: 'UNKNOWN_STORE', message: expect.stringContaining('nosuchstore') });
    expect((t.server.host.registry.get('board') as unknown as { has(id: string): boolean }).has('x')).toBe(false);
    s.close();
  });

  it('sends a tick\'s writes in one message for the room, a field written five times once', async () => {
    const s = new RawSocket(t.url);
    await s.open();
    s.sendBinary(['$auth', 1, { name: 'batch' }]);
    const state = await s.push('$state');
    expect(state.room).toBe('lobby');
    const keys: string[] = [...state.keys];
    s.sendBinary(['board.place', 2, { x: 0 }]);
    s.sendBinary(['board.burst', 3, null]);
    const mine: WirePatch[] = [];
    let messages = 0;
    let x: unknown;
    while (x !== 5) {
      const m = (await s.next()) as unknown[];
      if (m[0] !== '$delta') continue;
      const body = m[2] as unknown[];
      keys.push(...(body[1] as string[]));
      const patches = readDelta(body, keys, 2).filter((p) => p.path[0] === 'board' && p.path[1] === 'p-batch');
      if (patches.length === 0) continue;
      messages++;
      mine.push(...patches);
      const last = patches.at(-1)!;
      x = last.path.length === 2 ? (last.value as { x: number }).x : last.value;
    }
    // The row arrives whole (place), then the five writes of burst travel as one, however the two calls fall in ticks.
    expect(messages).toBeLessThanOrEqual(2);
    expect(mine.length).toBeLessThanOrEqual(2);
    expect(mine.at(-1)!.value === 5 || (mine.at(-1)!.value as { x: number }).x === 5).toBe(true);
    s.close();
  });
});
