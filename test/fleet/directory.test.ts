import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoomDirectory } from '../../server/fleet/directory.ts';
import { FleetNode } from '../../server/fleet/node.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';

// The room directory of three nodes on a real redis-server, against a model:
// whatever the order and overlap of claims, frees and reloads, a room has one
// holder, the first claimant since it was last freed, and every node's mirror
// ends up agreeing with Redis.

const fleetNode = (url: string, name: string) => new FleetNode({ url, gameUrl: `ws://127.0.0.1:1/${name}`, load: () => ({ players: 0, rooms: 0 }), code: () => ({}) });

type Op = { kind: 'claim'; node: number; room: number } | { kind: 'free'; node: number } | { kind: 'refresh'; node: number };

describe.skipIf(!redisOrSkip())('room directory', () => {
  let redis: TestRedis;
  let nodes: FleetNode[];
  let dirs: RoomDirectory[];
  beforeAll(async () => {
    redis = await startRedis();
    nodes = [0, 1, 2].map((i) => fleetNode(redis.url, `n${i}`));
    dirs = nodes.map((n) => new RoomDirectory(n));
    await waitFor(async () => nodes.every((n) => n.connected) && (await nodes[0]!.liveNodes()).length === 3, 10_000, 'three nodes registered');
  }, 30_000);
  afterAll(async () => {
    for (const d of dirs ?? []) d.close();
    for (const n of nodes ?? []) await n.leave();
    await redis?.stop();
  });

  it('claims made at once by several nodes: one holder per room, the same in every mirror and in Redis', async () => {
    const rooms = Array.from({ length: 30 }, (_, i) => `race-${i}`);
    const results = await Promise.all(rooms.flatMap((room) => dirs.map((d, i) => d.claim(room, nodes[i]!.id).then((holder) => ({ room, holder })))));
    for (const room of rooms) {
      const holders = new Set(results.filter((r) => r.room === room).map((r) => r.holder));
      expect(holders.size).toBe(1);
    }
    const all = await nodes[0]!.redis.run((r) => r.hgetall('rebind:rooms'));
    await waitFor(() => dirs.every((d) => rooms.every((room) => d.holder(room) === all[room])), 5000, 'every mirror to agree');
    const held = dirs.map((d) => d.held().filter((r) => r.startsWith('race-')));
    expect(held.flat().sort()).toEqual([...rooms].sort());
    for (const d of dirs) await d.freeAllOf(nodes[dirs.indexOf(d)]!.id);
  }, 30_000);

  it('any sequence of claims, frees and reloads agrees with the model', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('claim' as const), node: fc.integer({ min: 0, max: 2 }), room: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('free' as const), node: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant('refresh' as const), node: fc.integer({ min: 0, max: 2 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        for (const [i, d] of dirs.entries()) await d.freeAllOf(nodes[i]!.id);
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'claim') {
            const room = `m-${o.room}`;
            const holder = await dirs[o.node]!.claim(room, nodes[o.node]!.id);
            if (!model.has(room)) model.set(room, o.node);
            expect(holder).toBe(nodes[model.get(room)!]!.id);
          } else if (o.kind === 'free') {
            await dirs[o.node]!.freeAllOf(nodes[o.node]!.id);
            for (const [room, n] of model) if (n === o.node) model.delete(room);
          } else await dirs[o.node]!.refresh();
        }
        const all = await nodes[0]!.redis.run((r) => r.hgetall('rebind:rooms'));
        expect(all).toEqual(Object.fromEntries([...model].map(([room, n]) => [room, nodes[n]!.id])));
        for (const [i, d] of dirs.entries()) {
          await d.refresh();
          expect(d.held().sort()).toEqual([...model].filter(([, n]) => n === i).map(([room]) => room).sort());
        }
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it('a room another node claims for this one (as it sends a player over) is this node\'s to keep, save and claim back', async () => {
    expect(await dirs[1]!.claim('placed-for-0', nodes[0]!.id)).toBe(nodes[0]!.id);
    await waitFor(() => dirs[0]!.held().includes('placed-for-0'), 5000, 'node 0 to count the room as its own');
    expect(dirs[1]!.held()).not.toContain('placed-for-0');
  });

  it('Redis restarted empty: a reload claims again the rooms each node serves', async () => {
    await dirs[0]!.claim('kept-0', nodes[0]!.id);
    await dirs[1]!.claim('kept-1', nodes[1]!.id);
    await redis.restart();
    await waitFor(() => nodes.every((n) => n.connected), 10_000, 'the nodes to reconnect');
    await waitFor(async () => {
      for (const d of dirs) await d.refresh();
      const all = await nodes[0]!.redis.run((r) => r.hgetall('rebind:rooms'));
      return all['kept-0'] === nodes[0]!.id && all['kept-1'] === nodes[1]!.id;
    }, 10_000, 'both rooms claimed again');
  }, 30_000);
});
