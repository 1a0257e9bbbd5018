import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startFleet, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Three real node processes on a real redis-server, players on every node:
// rooms placed across the fleet, players sent to the node that holds their
// room keeping their id, cross-node send, broadcast and callRoom, each
// message arriving once.

interface Player {
  name: string;
  client: RebindClient;
  told: unknown[];
  shouts: unknown[];
  moved: unknown[];
}

describe.skipIf(!redisOrSkip())('rooms across a fleet of three nodes', () => {
  let fleet: TestFleet;
  const players: Player[] = [];
  /** The resume token each b player held on the node it started on, before it was sent to its room's node. */
  const leftBehind = new Map<string, string>();
  const named = (...names: string[]) => names.map((n) => players.find((p) => p.name === n)!);
  const nodeOf = (p: Player) => fleet.nodes.findIndex((n) => n.gameUrl === p.client.url);

  async function player(name: string, home: number, encoding: 'msgpack' | 'json' = 'msgpack'): Promise<Player> {
    const client = new RebindClient(fleet.nodes[home]!.gameUrl, { encoding, backoffMs: [50, 500], fallbackUrls: fleet.nodes.map((n) => n.gameUrl) });
    const p: Player = { name, client, told: [], shouts: [], moved: [] };
    client.on('told', (m) => p.told.push(m));
    client.on('shout', (m) => p.shouts.push(m));
    client.on('moved', (m) => p.moved.push(m));
    await client.connect();
    await client.join({ name });
    players.push(p);
    return p;
  }

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 3, files: FLEET_GAME });
    // Every node sees the other two before anyone plays: placement reads the live nodes.
    await untilNodesSeeEachOther(fleet);
  }, 90_000);
  afterAll(async () => {
    for (const p of players) p.client.close();
    await fleet?.stop();
  });

  it('a room is placed on one node; a player of another node is sent there and keeps its id', async () => {
    // a0, a1, a2: one per node, each enters a room of its own: equal load, so each room stays on its node.
    const a = await Promise.all([0, 1, 2].map((i) => player(`a${i}`, i)));
    for (let i = 0; i < 3; i++) {
      expect(await a[i]!.client.call('game.enter', { room: `r${i}` })).toEqual({ room: `r${i}`, player: `p-a${i}` });
      expect(nodeOf(a[i]!)).toBe(i);
    }
    // b0, b1, b2: each starts on the next node and enters r0, r1, r2: sent to the room's node, same player id.
    for (let i = 0; i < 3; i++) {
      const b = await player(`b${i}`, (i + 1) % 3);
      expect(b.client.player).toBe(`p-b${i}`);
      leftBehind.set(b.name, b.client.token!);
      const entered = await b.client.call('game.enter', { room: `r${i}` });
      expect(entered).toEqual({ room: `r${i}`, player: `p-b${i}` });
      expect(nodeOf(b)).toBe(i);
      expect(b.client.player).toBe(`p-b${i}`);
      expect(b.moved).toEqual([expect.objectContaining({ node: fleet.nodes[i]!.id, room: `r${i}`, player: `p-b${i}` })]);
    }
    // Presence in Redis names the node that holds each player now.
    const redis = new Redis(fleet.redis.url);
    try {
      for (let i = 0; i < 3; i++) {
        expect(await redis.hget(`rebind:player:p-a${i}`, 'node')).toBe(fleet.nodes[i]!.id);
        await waitFor(async () => (await redis.hget(`rebind:player:p-b${i}`, 'node')) === fleet.nodes[i]!.id, 5000, `presence of p-b${i}`);
      }
      expect(await redis.hgetall('rebind:rooms')).toEqual({ r0: fleet.nodes[0]!.id, r1: fleet.nodes[1]!.id, r2: fleet.nodes[2]!.id });
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('a client speaking JSON follows the redirect the same way', async () => {
    const j = await player('j', 0, 'json');
    expect(await j.client.call('game.enter', { room: 'r1' })).toEqual({ room: 'r1', player: 'p-j' });
    expect(nodeOf(j)).toBe(1);
    expect(j.client.player).toBe('p-j');
  }, 30_000);

  it('a token proves a player on any node only while it is the latest: forged, or left behind by a move, it is RESUME_FAILED everywhere', async () => {
    const probe = async (url: string, payload: unknown) => {
      const c = new RebindClient(url, { reconnect: false });
      await c.connect();
      try {
        return await c.request('$resume', payload).then(() => 'accepted', (err: { code: string }) => err.code);
      } finally {
        c.close();
      }
    };
    for (const node of fleet.nodes) {
      expect(await probe(node.gameUrl, { token: 'forged-token-forged-token', player: 'p-b0' })).toBe('RESUME_FAILED');
      expect(await probe(node.gameUrl, { token: leftBehind.get('b0'), player: 'p-b0' })).toBe('RESUME_FAILED');
      expect(await probe(node.gameUrl, { token: leftBehind.get('b1') })).toBe('RESUME_FAILED');
      expect(await probe(node.gameUrl, { token: 42, player: { not: 'a string' } })).toBe('RESUME_FAILED');
    }
  }, 30_000);

  it('ctx.send reaches a player on another node once; ctx.broadcast reaches every member of a room on another node once', async () => {
    const [a0, a1, a2, b0, b1, b2] = named('a0', 'a1', 'a2', 'b0', 'b1', 'b2');
    // From node 0 to a player on node 1 and one on node 2, and one on its own node.
    await a0!.client.call('game.tell', { to: 'p-a1', text: 'hello 1' });
    await a0!.client.call('game.tell', { to: 'p-b2', text: 'hello 2' });
    await a0!.client.call('game.tell', { to: 'p-b0', text: 'hello 0' });
    // From node 2 to room r1 (held by node 1: a1 and b1 are in it).
    await a2!.client.call('game.shout', { room: 'r1', text: 'hey r1' });
    await waitFor(() => a1!.told.length === 1 && b2!.told.length === 1 && b0!.told.length === 1 && a1!.shouts.length === 1 && b1!.shouts.length === 1, 10_000, 'every message delivered').catch((err: Error) => {
      throw new Error(`${err.message}: told a1 ${a1!.told.length}, b2 ${b2!.told.length}, b0 ${b0!.told.length}; shouts a1 ${a1!.shouts.length}, b1 ${b1!.shouts.length}\n${fleet.logs()}`);
    });
    // Any second delivery would land by now.
    await sleep(500);
    expect(a1!.told).toEqual([{ from: 'p-a0', text: 'hello 1' }]);
    expect(b2!.told).toEqual([{ from: 'p-a0', text: 'hello 2' }]);
    expect(b0!.told).toEqual([{ from: 'p-a0', text: 'hello 0' }]);
    expect(a1!.shouts).toEqual([{ from: 'p-a2', text: 'hey r1' }]);
    expect(b1!.shouts).toEqual([{ from: 'p-a2', text: 'hey r1' }]);
    for (const p of [a0, a2, b0, b2]) expect(p!.shouts).toEqual([]);
    expect(a0!.told).toEqual([]);
  }, 30_000);

  it('a push sent while the sender still thinks the player is on the node it left is passed on, and arrives once', async () => {
    const [a1] = named('a1');
    const c = await player('c', 2);
    await a1!.client.call('game.tell', { to: 'p-c', text: 'where you were' });
    await waitFor(() => c.told.length === 1, 10_000, 'the first message');
    // Node 1 now remembers that p-c is on node 2 (for a couple of seconds); p-c moves to node 0 at once.
    await c.client.call('game.enter', { room: 'r0' });
    expect(nodeOf(c)).toBe(0);
    await a1!.client.call('game.tell', { to: 'p-c', text: 'where you are' });
    await waitFor(() => c.told.length === 2, 10_000, 'the message sent after the move');
    await sleep(300);
    expect(c.told).toEqual([{ from: 'p-a1', text: 'where you were' }, { from: 'p-a1', text: 'where you are' }]);
  }, 30_000);

  it('ctx.callRoom runs on the node that holds the room, as its own transaction, and answers; an unknown room is ROOM_LOST', async () => {
    const [a0, a1] = named('a0', 'a1');
    expect(await a0!.client.call('game.count', { room: 'r2' })).toBe(1);
    expect(await a1!.client.call('game.count', { room: 'r2' })).toBe(2);
    expect(await a0!.client.call('game.count', { room: 'r0' })).toBe(1);
    await expect(a0!.client.call('game.count', { room: 'no-such-room' })).rejects.toMatchObject({ code: 'ROOM_LOST' });
  }, 30_000);

  it('kill -9 of a node: its rooms are reported lost and freed, its players reconnect and are placed again with their ids', async () => {
    const victim = fleet.nodes[2]!;
    const onVictim = players.filter((p) => nodeOf(p) === 2);
    expect(onVictim.map((p) => p.name).sort()).toEqual(['a2', 'b2']);
    await fleet.kill(2);
    // Its room cannot be called now: its node is gone (or, once freed, nobody holds it); never a hang.
    const [a0] = named('a0');
    await expect(a0!.client.call('game.count', { room: 'r2' })).rejects.toMatchObject({ code: expect.stringMatching(/^(NODE_GONE|ROOM_LOST|FLEET_TIMEOUT)$/) });
    await waitFor(() => fleet.nodes.slice(0, 2).some((n) => n.proc.output().includes(`ROOMS LOST with node ${victim.id}: r2`)), 20_000, 'a node to report r2 lost');
    for (const p of onVictim) {
      await waitFor(() => p.client.connected && nodeOf(p) !== 2 && nodeOf(p) !== -1, 20_000, `${p.name} to be on a live node`);
      expect(p.client.player).toBe(`p-${p.name}`);
    }
    // Placed again: r2 goes to a live node, both players end up there.
    for (const p of onVictim) await waitFor(async () => (await p.client.call('game.enter', { room: 'r2' }).then(() => true, () => false)), 20_000, `${p.name} to enter r2 again`);
    // Two nodes may both place r2 within the same few milliseconds: the one Redis gave it to keeps it, the other sends its member over ($redirect).
    await waitFor(() => nodeOf(onVictim[0]!) === nodeOf(onVictim[1]!) && onVictim.every((p) => p.client.connected), 15_000, 'both players of r2 on the node that holds it');
    expect([0, 1]).toContain(nodeOf(onVictim[0]!));
    for (const p of onVictim) expect(p.client.player).toBe(`p-${p.name}`);
  }, 60_000);
});
