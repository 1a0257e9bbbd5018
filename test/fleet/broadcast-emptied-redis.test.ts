import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetForTests, type TestFleet } from '../helpers/fleet.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';
import { metricOf } from './players.ts';

// A broadcast to a room held by another node, sent after an emptied Redis
// came back but before that node claimed its rooms again: the sending node
// had reloaded its room map from Redis, found no holder, and broadcast to
// the room's members here (none). Lost, with no line and no count. A room
// stays with its holder in the map until the holder frees it or is lost.

const TOKEN = 'rebind_fleet_broadcast_test_token';

describe.skipIf(!redisOrSkip())('fleet: broadcasts while an emptied Redis refills', () => {
  const under = fleetForTests({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });
  let fleet: TestFleet;
  let redis: Redis;
  beforeAll(() => {
    fleet = under.fleet;
    redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0, lazyConnect: true });
    redis.on('error', () => undefined);
  });
  // Before the fleet's own afterAll (hooks run in reverse): a stopped node must wake to be stopped.
  afterAll(() => {
    redis?.disconnect();
    for (const n of fleet?.nodes ?? []) if (n.proc.proc.exitCode === null) n.proc.proc.kill('SIGCONT');
  });

  const join = (name: string, node: number) => under.join(name, node);
  const lostTotal = (node: number) => metricOf(fleet, node, TOKEN, 'rebind_fleet_pushes_lost_total');

  it('reach the room on its node when the room map has lost the room and its holder has not claimed it again yet', async () => {
    const holder = fleet.nodes[1]!;
    const s = await join('bs', 1);
    const p = await join('bp', 0);
    const shouts: string[] = [];
    s.on('shout', (m: { text: string }) => shouts.push(m.text));
    await s.call('game.enter', { room: 'hall' });
    await p.call('game.shout', { room: 'hall', text: 'before' });
    await waitFor(() => shouts.includes('before'), 10_000, 'a cross-node broadcast before');
    await redis.connect();
    expect(await redis.hget('rebind:rooms', 'hall')).toBe(holder.id);

    // The holder is held still (SIGSTOP) so that it cannot claim the room again before the sender reloads the map;
    // the test keeps its record alive meanwhile, as its heartbeat would. Its subscription stays: what is published waits in its socket.
    const keepAlive = setInterval(() => void redis.multi().pexpire(`rebind:node:${holder.id}`, 3000).pexpire(`rebind:owner:${holder.id}`, 3000).exec().catch(() => undefined), 300);
    holder.proc.proc.kill('SIGSTOP');
    try {
      // What an emptied Redis looks like to the room map: no holder for the room.
      await redis.hdel('rebind:rooms', 'hall');
      // Node 0 reloads its map every 2 s: two reloads.
      await sleep(4500);
      for (let i = 0; i < 10; i++) await p.call('game.shout', { room: 'hall', text: `window ${i}` });
    } finally {
      holder.proc.proc.kill('SIGCONT');
      clearInterval(keepAlive);
    }
    await waitFor(() => shouts.includes('window 9'), 10_000, `the broadcasts sent in the window (got ${shouts.join(', ')})`);
    // The holder claims the room back; a broadcast after that comes after all of them, so once it is here any double would be too.
    await waitFor(async () => (await redis.hget('rebind:rooms', 'hall')) === holder.id, 10_000, 'the holder to claim the room back');
    await p.call('game.shout', { room: 'hall', text: 'after' });
    await waitFor(() => shouts.includes('after'), 10_000, 'a broadcast after');
    expect(shouts).toEqual(['before', ...Array.from({ length: 10 }, (_, i) => `window ${i}`), 'after']);
    expect(await lostTotal(0)).toBe(0);
    expect(fleet.logs()).not.toMatch(/NODE LOST|push\(es\) lost/);
  }, 60_000);

  it('a broadcast every 20 ms through a Redis restart arrives once each, or is counted lost', async () => {
    const s = await join('rs', 1);
    const p = await join('rp', 0);
    const got: number[] = [];
    s.on('shout', (m: { text: string }) => got.push(Number(m.text)));
    await s.call('game.enter', { room: 'arena' });
    await waitFor(async () => (await redis.hget('rebind:rooms', 'arena')) === fleet.nodes[1]!.id, 10_000, 'the room to be placed on node 1');
    const ok: number[] = [];
    let stop = false;
    const sender = (async () => {
      for (let i = 0; !stop; i++) {
        await p.call('game.shout', { room: 'arena', text: String(i) }).then(() => ok.push(i), () => undefined);
        await sleep(20);
      }
    })();
    await sleep(1000);
    await fleet.redis.restart();
    // Until both nodes have claimed their rooms and written their presence again, and a while after.
    await waitFor(async () => (await redis.hget('rebind:rooms', 'arena').catch(() => null)) === fleet.nodes[1]!.id, 20_000, 'the room to be claimed again');
    await sleep(3000);
    stop = true;
    await sender;
    await waitFor(() => got.length >= ok.length, 20_000, `every broadcast sent (${ok.length}) to arrive (got ${got.length})`).catch(() => undefined);
    const lost = await lostTotal(0);
    const missing = ok.filter((i) => !got.includes(i));
    expect(new Set(got).size, 'no double').toBe(got.length);
    expect(missing.length, `missing ${missing.join(', ')}; lost counted ${lost}`).toBe(lost);
    expect(ok.length).toBeGreaterThan(100);
  }, 90_000);

  it('from a node started while Redis was down, reach the room on its node once the room map can tell where it is', async () => {
    const s = await join('ds', 1);
    const shouts: string[] = [];
    s.on('shout', (m: { text: string }) => shouts.push(m.text));
    await s.call('game.enter', { room: 'den' });
    await waitFor(async () => (await redis.hget('rebind:rooms', 'den')) === fleet.nodes[1]!.id, 10_000, 'the room to be placed on node 1');
    await fleet.redis.stop();
    // Node 0 starts again with no Redis: it has no map of the rooms at all.
    await fleet.kill(0);
    await fleet.restart(0);
    const p = await join('dp', 0);
    for (let i = 0; i < 5; i++) await p.call('game.shout', { room: 'den', text: `dark ${i}` });
    // An emptied Redis: node 1 claims its room again, node 0 reads the map for the first time.
    await fleet.redis.restart();
    await waitFor(() => shouts.includes('dark 4'), 20_000, `the broadcasts sent before node 0 knew the room's node (got ${shouts.join(', ')})`);
    await p.call('game.shout', { room: 'den', text: 'after' });
    await waitFor(() => shouts.includes('after'), 10_000, 'a broadcast after');
    expect(shouts).toEqual(['dark 0', 'dark 1', 'dark 2', 'dark 3', 'dark 4', 'after']);
    expect(await lostTotal(0)).toBe(0);
  }, 90_000);
});
