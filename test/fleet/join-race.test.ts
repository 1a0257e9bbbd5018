import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { adminRequest } from '../helpers/admin.ts';
import { startFleet, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Joins of one new room on three nodes, back to back (each after the previous
// one answered): the first places the room, every later one must find it
// there. Before the fix a node answered ok from its memory alone, lost the
// claim in Redis a moment later and pushed its member to the holder, where it
// was not a member: a broadcast to the room never reached it. And what
// status says about that fleet: rooms as the room map counts them, and a
// patch under way only until it is decided.

const TOKEN = 'rebind_join_race_test_token';

describe.skipIf(!redisOrSkip())('fleet: back-to-back joins of a new room on three nodes', () => {
  let fleet: TestFleet;
  const clients: RebindClient[] = [];

  beforeAll(async () => {
    // Grace 0: a closed client's session ends at once, so the rooms are left empty (still placed) for the status check.
    fleet = await startFleet({ nodes: 3, files: FLEET_GAME, args: ['--grace', '0'], env: { REBIND_ADMIN_TOKEN: TOKEN } });
    await untilNodesSeeEachOther(fleet);
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await fleet?.stop();
  });

  it('every joiner is a member of the room where it is held: a shout reaches all three, each once', async () => {
    for (let round = 0; round < 8; round++) {
      const room = `race-${round}`;
      const joined: { client: RebindClient; heard: string[]; moved: number }[] = [];
      for (let n = 0; n < 3; n++) {
        const client = new RebindClient(fleet.nodes[n]!.gameUrl, { reconnect: false });
        clients.push(client);
        const entry = { client, heard: [] as string[], moved: 0 };
        client.on('shout', (m: { text: string }) => entry.heard.push(m.text));
        client.on('moved', () => entry.moved++);
        await client.connect();
        await client.join({ name: `r${round}-${n}` });
        joined.push(entry);
      }
      const movedAtEnter: number[] = [];
      for (const j of joined) {
        expect(await j.client.call('game.enter', { room })).toMatchObject({ room });
        movedAtEnter.push(j.moved);
      }
      const where = () => joined.map((j, n) => `r${round}-${n} at ${j.client.url} (moved ${j.moved}, heard ${JSON.stringify(j.heard)})`).join('; ');
      await joined[0]!.client.call('game.shout', { room, text: `hello ${round}` });
      await waitFor(() => joined.every((j) => j.heard.includes(`hello ${round}`)), 10_000, `the shout of round ${round} to reach all three`).catch((err: Error) => {
        throw new Error(`${err.message}: ${where()}\n${fleet.logs().split('\n').filter((l) => l.includes(room)).join('\n')}`);
      });
      expect(new Set(joined.map((j) => j.client.url)).size, where()).toBe(1);
      // No member was pushed away after its join answered.
      expect(joined.map((j) => j.moved), where()).toEqual(movedAtEnter);
      expect(joined.map((j) => j.heard.filter((t) => t === `hello ${round}`).length), where()).toEqual([1, 1, 1]);
      for (const { client } of joined) client.close();
    }
  }, 120_000);

  it("status counts each node's rooms as the fleet's room map does, members or not", async () => {
    const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    const ids = () => fleet.nodes.map((n) => n.id).sort();
    try {
      const inMap = async () => {
        const map = await redis.hgetall('rebind:rooms');
        return Object.fromEntries(ids().map((id) => [id, Object.values(map).filter((holder) => holder === id).length]));
      };
      const shown = async () => {
        const status = await adminRequest<{ fleet: { nodes: { id: string; rooms: number }[] } }>(fleet.nodes[0]!.adminUrl, TOKEN, 'status');
        return Object.fromEntries(ids().map((id) => [id, status.fleet.nodes.find((n) => n.id === id)?.rooms]));
      };
      const total = Object.values(await inMap()).reduce((a, b) => a + b, 0);
      expect(total).toBe(8);
      // The other nodes' figures come with their heartbeat (1 s).
      await waitFor(async () => JSON.stringify(await shown()) === JSON.stringify(await inMap()), 10_000, 'status and rebind:rooms to agree').catch(async (err: Error) => {
        throw new Error(`${err.message}: status ${JSON.stringify(await shown())}, rebind:rooms ${JSON.stringify(await inMap())}`);
      });
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  it('status shows a fleet patch under way only until its decision is recorded (the lock may outlive it)', async () => {
    const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    const patching = async () => (await adminRequest<{ fleet: { patching: string | null } }>(fleet.nodes[1]!.adminUrl, TOKEN, 'status')).fleet.patching;
    try {
      // What a coordinator holds while its nodes prepare, then the abort every node wrote (the coordinator killed, its lock left).
      await redis.set('rebind:patch:lock', 'n0-test-1', 'PX', 60_000);
      expect(await patching()).toBe('n0-test-1');
      await redis.set('rebind:patch:n0-test-1:decision', 'abort', 'PX', 60_000);
      expect(await patching()).toBeNull();
    } finally {
      await redis.del('rebind:patch:lock', 'rebind:patch:n0-test-1:decision');
      redis.disconnect();
    }
  }, 30_000);
});
