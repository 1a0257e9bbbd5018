import { beforeAll, describe, expect, it } from 'vitest';
import type { RebindClient } from '../../client/index.ts';
import type { FleetPatchResult } from '../../server/fleet/patch-coordinator.ts';
import { adminRequest } from '../helpers/admin.ts';
import { fleetForTests, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Placement by logic: the session module's `place` hook chooses the node of a
// new room (three real nodes on a real redis-server). Its rule is patched
// live and the next new room follows the new rule; answers that name no live
// node, a throw, a store write, each are logged and placement falls back to
// load, and the join still succeeds.

const TOKEN = 'rebind_fleet_place_test_token';
const IDS = ['node-a', 'node-b', 'node-c'];

const session = (rule: string) => `
import { fail, type Ctx, type PlaceCtx, type PlaceRequest } from '../server/api';
import { tally } from '../state/tally';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string' || p.name.length === 0) fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) {}
export function place(ctx: PlaceCtx, r: PlaceRequest) {
  if (r.room.startsWith('bad-')) return 'node-nowhere';
  if (r.room.startsWith('boom-')) throw new Error('no rule for ' + r.room);
  if (r.room.startsWith('write-')) { tally.update((d) => { d.byRoom[r.room] = 1; }); return 'node-c'; }
  if (r.room.startsWith('slow-')) { for (;;) {} }
  if (r.room.startsWith('loop-') || r.room === 'eu-6' || r.room === 'eu-7') ctx.log.info('place asked for ' + r.room);
  if (r.room.startsWith('loop-')) { for (;;) {} }
  if (r.room.startsWith('busy-')) { const end = Date.now() + 150; while (Date.now() < end) {} return 'node-c'; }
  if (r.room.startsWith('eu-')) return ${rule};
  return undefined;
}
`;

describe.skipIf(!redisOrSkip())('fleet: placement by logic (session.place)', () => {
  // The node ids are fixed (data-i/node-id) so that the hook can name them.
  const files: Record<string, string> = { ...FLEET_GAME, 'logic/session.ts': session(`'node-c'`) };
  IDS.forEach((id, i) => (files[`data-${i}/node-id`] = id + '\n'));
  const under = fleetForTests({ nodes: 3, files, env: { REBIND_ADMIN_TOKEN: TOKEN } });
  let fleet: TestFleet;
  const nodeOf = (c: RebindClient) => fleet.nodes.findIndex((n) => n.gameUrl === c.url);
  /** A node's log messages (the log is JSON lines). */
  const said = (index: number) =>
    fleet.nodes[index]!.proc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg).join('\n');

  async function enter(name: string, home: number, room: string): Promise<RebindClient> {
    const client = await under.join(name, home, { backoffMs: [50, 500], fallbackUrls: fleet.nodes.map((n) => n.gameUrl) });
    expect(await client.call('game.enter', { room })).toEqual({ room, player: `p-${name}` });
    return client;
  }

  beforeAll(() => {
    fleet = under.fleet;
    expect(fleet.nodes.map((n) => n.id)).toEqual(IDS);
  });

  it('rooms named eu-* go where the hook says; patched, the next new room follows the new rule', async () => {
    // Equal load everywhere: by load alone each room would stay on the node its player joined.
    const first = await enter('e1', 0, 'eu-1');
    const second = await enter('e2', 1, 'eu-2');
    expect([nodeOf(first), nodeOf(second)], fleet.logs()).toEqual([2, 2]);
    // A slow hook is not an endless loop: one that takes 150 ms (a busy machine makes a trivial hook take that long) still decides.
    expect(nodeOf(await enter('b1', 0, 'busy-1')), fleet.logs()).toBe(2);
    // A room the hook leaves alone is placed by load: it stays.
    expect(nodeOf(await enter('o1', 0, 'other-1'))).toBe(0);

    fleet.project.write('logic/session.ts', session(`'node-b'`));
    const r = await adminRequest<FleetPatchResult>(fleet.nodes[0]!.adminUrl, TOKEN, 'patch', { modules: ['session'] });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const third = await enter('e3', 0, 'eu-3');
    expect(nodeOf(third), fleet.logs()).toBe(1);
    // A room placed before the patch stays where it is.
    expect(nodeOf(await enter('e4', 0, 'eu-1'))).toBe(2);
  }, 60_000);

  it('a bad answer (no such node, a throw, a store write, an endless loop) is logged and load decides; the join succeeds', async () => {
    const cases: Array<[string, RegExp]> = [
      ['bad-1', /PLACEMENT REFUSED: session\.place chose node "node-nowhere", which is not a live node of the fleet \(live: node-a, node-b, node-c\); room "bad-1" is placed by load instead/],
      ['boom-1', /PLACEMENT REFUSED: session\.place threw: no rule for boom-1; room "boom-1" is placed by load instead/],
      ['write-1', /PLACEMENT REFUSED: session\.place tried to write to a store: place only chooses a node \(write in the handler that joins the room instead\); room "write-1" is placed by load instead/],
      ['slow-1', /PLACEMENT REFUSED: session\.place ran over its 500 ms limit and was stopped \(an endless loop\?\); room "slow-1" is placed by load instead/],
    ];
    for (const [room, line] of cases) {
      // The join succeeds, on a node load chose.
      const client = await enter(`x-${room}`, 0, room);
      expect(nodeOf(client), room).toBeGreaterThanOrEqual(0);
      expect(said(0)).toMatch(line);
    }
    // The refused write left nothing behind: the room's first bump counts 1.
    const bumped = await adminRequest<{ result: unknown }>(fleet.nodes[0]!.adminUrl, TOKEN, 'call', { handler: 'game.bump', payload: { room: 'write-1' } });
    expect(bumped.result).toBe(1);
  }, 60_000);

  it('a hook version stopped at its limit twice in a row is not called again until it is patched: one loud line, load decides', async () => {
    // A new version of the hook (same rule), so that no earlier overrun counts.
    // A different expression each time (a comment alone is not a new build).
    const patch = async (field: string) => {
      fleet.project.write('logic/session.ts', session(`(r.${field} ? 'node-b' : 'node-b')`));
      const r = await adminRequest<FleetPatchResult>(fleet.nodes[0]!.adminUrl, TOKEN, 'patch', { modules: ['session'] });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    };
    await patch('nodes');
    const asked = () => said(0).split('\n').filter((l) => l.startsWith('place asked for loop-'));
    for (const room of ['loop-1', 'loop-2', 'loop-3', 'loop-4']) expect(nodeOf(await enter(`x-${room}`, 0, room)), room).toBeGreaterThanOrEqual(0);
    expect(asked()).toEqual(['place asked for loop-1', 'place asked for loop-2']);
    const stopped = said(0).split('\n').filter((l) => l.startsWith('PLACEMENT HOOK STOPPED'));
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatch(/^PLACEMENT HOOK STOPPED: session\.place \(session v\d+ [0-9a-f]{8}\) ran over its 500 ms limit and was stopped \(an endless loop\?\) 2 times in a row, .*not called again until session is patched.*room "loop-2"/);
    // The busy line names the hook, not only the handler it ran in.
    expect(said(0)).toMatch(/session\.place kept the event loop busy for about \d+ ms/);
    // Not called: a room it would send to node-b is placed by load, with no refusal.
    expect(nodeOf(await enter('e6', 0, 'eu-6'))).toBeGreaterThanOrEqual(0);
    expect(said(0)).not.toMatch(/place asked for eu-6/);
    expect(said(0)).not.toMatch(/room "eu-6"/);
    // Patched: called again, and it decides.
    await patch('room');
    expect(nodeOf(await enter('e7', 0, 'eu-7')), fleet.logs()).toBe(1);
    expect(said(0)).toMatch(/place asked for eu-7/);
  }, 90_000);

  it('a node that is gone is never chosen: the hook naming it is refused and load decides', async () => {
    await fleet.kill(1);
    await waitFor(() => /NODE LOST node-b/.test(fleet.nodes[0]!.proc.output()), 20_000, 'node 0 to notice node-b is gone');
    const client = await enter('e5', 0, 'eu-5');
    expect([0, 2]).toContain(nodeOf(client));
    expect(said(0)).toMatch(/PLACEMENT REFUSED: session\.place chose node "node-b", which is not a live node of the fleet \(live: node-a, node-c\); room "eu-5" is placed by load instead/);
  }, 60_000);
});
