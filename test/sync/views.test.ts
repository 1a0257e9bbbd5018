import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { demoProject } from '../helpers/demo.ts';
import { waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Per-player views on a real server, read by the real client: rows enter a
// replica whole and leave it as they come into and out of view, and patching
// a view filter's code is an ordinary patch that the next tick follows.

type Rows = Record<string, Record<string, unknown>>;
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()!();
});

async function client(url: string, name: string, encoding: 'msgpack' | 'json' = 'msgpack'): Promise<RebindClient> {
  const c = new RebindClient(url, { reconnect: false, encoding });
  await c.connect();
  await c.join({ name });
  stops.push(async () => c.close());
  return c;
}

describe('a radius view (the demo arena)', () => {
  it.each(['msgpack', 'json'] as const)('brings a player into view whole, removes it when it walks away, and back (%s)', async (encoding) => {
    const project = demoProject();
    project.write('logic/lib/rules.ts', readFileSync(project.path('logic/lib/rules.ts'), 'utf8').replace(/export const VIEW_RADIUS = \d+;/, 'export const VIEW_RADIUS = 150;'));
    const server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1' });
    stops.push(async () => {
      await server.stop();
      project.cleanup();
    });
    const bob = await client(server.url, 'bob', encoding);
    const ann = await client(server.url, 'ann', encoding);
    const seen = () => bob.state<Rows>('arena', 'players') ?? {};
    const annRow = () => (server.host.registry.get('players') as unknown as { get(id: string): unknown }).get('p-ann');
    server.host.call('arena.place', { player: 'p-bob', x: 100, y: 100 });
    server.host.call('arena.place', { player: 'p-ann', x: 700, y: 500 });
    // Bob's replica shows his new place (so the places have been synced) and no ann.
    await waitFor(() => seen()['p-bob']?.x === 100 && seen()['p-ann'] === undefined, 3000, 'ann out of bob\'s view');
    server.host.call('arena.place', { player: 'p-ann', x: 180, y: 120 });
    await waitFor(() => seen()['p-ann']?.x === 180, 3000, 'ann in view');
    expect(seen()['p-ann']).toEqual(annRow()); // whole, every field
    // Moving within view: bob sees each step; ann sees bob.
    await ann.call('arena.move', { dx: -1, dy: 0 });
    await waitFor(() => (seen()['p-ann']!.x as number) < 170, 3000, 'ann to move in view');
    await ann.call('arena.move', { dx: 0, dy: 0 });
    await waitFor(() => ann.state<Rows>('arena', 'players')?.['p-bob'] !== undefined, 3000, 'bob in ann\'s view');
    server.host.call('arena.place', { player: 'p-ann', x: 600, y: 400 });
    await waitFor(() => seen()['p-ann'] === undefined, 3000, 'ann to leave bob\'s view');
    expect(Object.keys(seen())).toEqual(['p-bob']);
    await waitFor(() => ann.state<Rows>('arena', 'players')?.['p-bob'] === undefined, 3000, 'bob to leave ann\'s view');
    // The items (everyone sees all) still arrived whole.
    expect(Object.keys(bob.state<Rows>('arena', 'items') ?? {}).length).toBeGreaterThan(0);
  });
});

const STATE = `
import { defineTable } from '../server/api';
export const units = defineTable<{ owner: string; hp: number }>('units');
`;
const VIEWS = (rule: string) => `
import { client, type Ctx } from '../server/api';
import { units } from '../state/units';
export function init(ctx: Ctx) { ctx.setRoomView('field', { units: { filter: 'views.visible' } }); }
/** What a player sees of the units: a view filter, called by name at every tick. */
export function visible(row: { owner: string; hp: number }, viewer: string): boolean { return ${rule}; }
export const spawn = client((ctx: Ctx, p: { id: string; hp: number }) => { units.set(p.id, { owner: ctx.player!, hp: p.hp }); });
export const hurt = client((ctx: Ctx, p: { id: string }) => { units.update(p.id, (u) => { u.hp -= 1; }); });
`;
const SESSION = `
import { type Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name: string }) { return p.name; }
export function join(ctx: Ctx) { ctx.join('field'); }
`;

describe('a filter view', () => {
  it('shows each player what the filter lets through, follows row changes, and follows a patch of the filter', async () => {
    const t: TestServer = await startServer({ 'state/units.ts': STATE, 'logic/views.ts': VIEWS('row.owner === viewer'), 'logic/session.ts': SESSION });
    stops.push(() => t.stop());
    const ann = await client(t.url, 'ann');
    const bob = await client(t.url, 'bob', 'json');
    await ann.call('views.spawn', { id: 'a1', hp: 2 });
    await bob.call('views.spawn', { id: 'b1', hp: 1 });
    const of = (c: RebindClient) => c.state<Rows>('field', 'units') ?? {};
    await waitFor(() => of(ann)['a1'] !== undefined && of(bob)['b1'] !== undefined, 3000, 'each to see its own unit');
    await ann.call('views.hurt', { id: 'a1' });
    await waitFor(() => of(ann)['a1']!.hp === 1, 3000, 'the change of a row in view');
    expect(Object.keys(of(ann))).toEqual(['a1']);
    expect(Object.keys(of(bob))).toEqual(['b1']);
    // A patch of the filter: the same name, new code; nobody reconnects.
    t.project.write('logic/views.ts', VIEWS('row.hp > 0'));
    expect((await t.server.host.patch()).ok).toBe(true);
    await waitFor(() => Object.keys(of(ann)).sort().join() === 'a1,b1' && Object.keys(of(bob)).sort().join() === 'a1,b1', 3000, 'both to see every living unit');
    // A row's change takes it out of view (hp 0), for both.
    await bob.call('views.hurt', { id: 'b1' });
    await waitFor(() => of(ann)['b1'] === undefined && of(bob)['b1'] === undefined, 3000, 'b1 to leave both views');
    expect(of(bob)['a1']).toEqual({ owner: 'ann', hp: 1 });
  });
});
