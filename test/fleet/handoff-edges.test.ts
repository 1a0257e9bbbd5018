import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient, RebindClientError } from '../../client/index.ts';
import { adminRequest } from '../helpers/admin.ts';
import { startFleet, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Two edges of moving a player between nodes, driven deterministically on
// two real nodes and a real redis-server:
// - the twin window: a player sent to another node leaves a cut session on
//   the node it left until that node hears it arrived; an $auth for it there
//   in that window must be sent on, not take the old session over. Here the
//   moving client is held back (it never follows its redirect), which keeps
//   the window open for as long as the test needs.
// - a member sent over because its node lost the room's claim (a room placed
//   on both nodes during a Redis outage) arrives as a member, and logic there
//   hears it through session.arrived.

const TOKEN = 'rebind_fleet_handoff_test_token';
const SESSION = `
import { fail, type Ctx, type SessionCtx } from '../server/api';
import { arrivals } from '../state/arrivals';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string' || p.name.length === 0) fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) {}
export function drop(ctx: SessionCtx) { ctx.log.info('dropped ' + ctx.player); }
export function arrived(ctx: SessionCtx, p: { room: string; from: string | null }) {
  arrivals.update((d) => { d.byPlayer[ctx.player] = { room: p.room, from: p.from }; });
}
`;
const ARRIVALS = `
import { defineStore } from '../server/api';
export const arrivals = defineStore('arrivals', { byPlayer: {} as Record<string, { room: string; from: string | null }> });
`;

const GAME = FLEET_GAME['logic/game.ts'] + `
import { arrivals } from '../state/arrivals';
export function arrivalsHere() { return arrivals.get().byPlayer; }
`;

describe.skipIf(!redisOrSkip())('fleet: moving a player, the edges', () => {
  let fleet: TestFleet;
  const clients: RebindClient[] = [];
  const nodeOf = (c: RebindClient) => fleet.nodes.findIndex((n) => n.gameUrl === c.url);
  const said = (i: number) => fleet.nodes[i]!.proc.output();

  async function player(name: string, node: number, options: { reconnect?: boolean } = {}): Promise<RebindClient> {
    const client = new RebindClient(fleet.nodes[node]!.gameUrl, { backoffMs: [50, 500], fallbackUrls: fleet.nodes.map((n) => n.gameUrl), ...options });
    clients.push(client);
    await client.connect();
    await client.join({ name });
    return client;
  }

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 2, files: { ...FLEET_GAME, 'logic/session.ts': SESSION, 'state/arrivals.ts': ARRIVALS, 'logic/game.ts': GAME }, env: { REBIND_ADMIN_TOKEN: TOKEN } });
    await untilNodesSeeEachOther(fleet);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await fleet?.stop();
  });

  it('an $auth on the node a player is leaving, before that node hears it arrived, is sent on to the player\'s new node', async () => {
    // A room held by node 1.
    const holder = await player('away-holder', 1);
    await holder.call('game.enter', { room: 'away' });
    expect(nodeOf(holder)).toBe(1);
    // The twin joins on node 0 and is sent to node 1 (node 0 has written the handoff in presence) ...
    const moving = await player('twin', 0, { reconnect: false });
    const refused = await moving.request('game.enter', { room: 'away' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RebindClientError);
    expect((refused as RebindClientError).redirect).toMatchObject({ url: fleet.nodes[1]!.gameUrl, player: 'p-twin' });
    // ... and is held back: its connection to node 0 is cut, and it never reaches node 1. Node 0 keeps a cut session.
    moving.drop();
    await waitFor(() => said(0).includes('dropped p-twin'), 10_000, 'node 0 to see the twin\'s connection cut');
    // The same player joins again on node 0: presence names node 1, so it goes there (and node 0 lets its session go).
    const again = await player('twin', 0, { reconnect: false });
    expect(again.player).toBe('p-twin');
    expect(nodeOf(again), said(0)).toBe(1);
    expect(await again.request('game.enter', { room: 'away' })).toEqual({ room: 'away', player: 'p-twin' });
  }, 30_000);

  it('a member sent over after its node lost the room\'s claim arrives a member, and logic there hears session.arrived', async () => {
    const downs = () => fleet.nodes.map((n) => n.proc.output().split('FLEET REDIS DOWN').length);
    const before = downs();
    await fleet.redis.stop();
    await waitFor(() => downs().every((d, i) => d > before[i]!), 10_000, 'both nodes to notice the outage');
    const s = [await player('s0', 0), await player('s1', 1)];
    for (const c of s) await c.call('game.enter', { room: 'split' });
    expect(s.map(nodeOf)).toEqual([0, 1]);
    await fleet.redis.restart();
    await waitFor(() => s[0]!.url === s[1]!.url && s.every((c) => c.connected), 20_000, 'both players on the node that holds "split"');
    const stayed = s.findIndex((c, i) => nodeOf(c) === i);
    const moved = 1 - stayed;
    const from = fleet.nodes[moved]!.id;
    // The node the room stayed on heard the arrival of the one sent over: who, which room, from which node.
    await waitFor(async () => {
      const r = await adminRequest<{ result: unknown }>(fleet.nodes[stayed]!.adminUrl, TOKEN, 'call', { handler: 'game.arrivalsHere' }).catch(() => undefined);
      return r !== undefined && JSON.stringify(r.result).includes(`p-s${moved}`);
    }, 10_000, 'session.arrived to have run').catch((err: Error) => {
      throw new Error(`${err.message}\n${fleet.logs()}`);
    });
    const { result } = await adminRequest<{ result: unknown }>(fleet.nodes[stayed]!.adminUrl, TOKEN, 'call', { handler: 'game.arrivalsHere' });
    expect(result).toEqual({ [`p-s${moved}`]: { room: 'split', from } });
    expect(said(stayed)).toMatch(new RegExp(`player p-s${moved} arrived as a member of room \\\\?"split\\\\?" \\(node ${from} lost the room's claim to this one\\); session.arrived runs`));
  }, 60_000);
});
