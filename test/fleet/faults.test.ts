import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { TOKEN_FILE } from '../../server/admin/token.ts';
import { adminRequest } from '../helpers/admin.ts';
import { startFleet, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Faults of a fleet, with real processes: Redis restarted (empty) in the
// middle of play, and a node killed with -9 and restarted from its data
// folder, taking its rooms back.

describe.skipIf(!redisOrSkip())('fleet faults', () => {
  let fleet: TestFleet;
  const clients: RebindClient[] = [];
  const told = new Map<string, string[]>();

  async function player(name: string, node: number, room: string): Promise<RebindClient> {
    const client = new RebindClient(fleet.nodes[node]!.gameUrl, { backoffMs: [50, 500], fallbackUrls: fleet.nodes.map((n) => n.gameUrl) });
    told.set(name, []);
    client.on('told', (m: { text: string }) => told.get(name)!.push(m.text));
    await client.connect();
    await client.join({ name });
    await client.call('game.enter', { room });
    clients.push(client);
    return client;
  }

  const inRedis = async <T>(read: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    try {
      return await read(redis);
    } finally {
      redis.disconnect();
    }
  };
  const rooms = () => inRedis((r) => r.hgetall('rebind:rooms'));

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 2, files: FLEET_GAME });
    await untilNodesSeeEachOther(fleet);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await fleet?.stop();
  });

  it('Redis restarted empty mid-play: nodes keep serving their rooms, claim them again, and cross-node messages flow again within seconds', async () => {
    const a0 = await player('a0', 0, 'f0');
    const a1 = await player('a1', 1, 'f1');
    await a0.call('game.tell', { to: 'p-a1', text: 'before' });
    await waitFor(() => told.get('a1')!.includes('before'), 10_000, 'a message before the restart');
    const before = await rooms();
    expect(before).toEqual({ f0: fleet.nodes[0]!.id, f1: fleet.nodes[1]!.id });

    await fleet.redis.stop();
    // Redis is gone: each node still serves its own room (a call that needs no Redis).
    expect(await a0.call('game.count', { room: 'f0' })).toBe(1);
    expect(await a1.call('game.count', { room: 'f1' })).toBe(1);
    expect(await a0.call('game.enter', { room: 'f0' })).toEqual({ room: 'f0', player: 'p-a0' });

    await fleet.redis.restart();
    const back = Date.now();
    // Messages sent while presence is being written again may be lost (pub/sub keeps nothing): send until one arrives.
    let n = 0;
    await waitFor(async () => {
      await a0.call('game.tell', { to: 'p-a1', text: `after ${n++}` });
      await sleep(200);
      return told.get('a1')!.some((t) => t.startsWith('after'));
    }, 20_000, 'a cross-node message after the restart');
    expect(Date.now() - back).toBeLessThan(15_000);
    await waitFor(async () => {
      const now = await rooms();
      return now.f0 === before.f0 && now.f1 === before.f1;
    }, 10_000, 'both rooms claimed again by their nodes');
    // Once each, from here on.
    const count = told.get('a1')!.length;
    await a0.call('game.tell', { to: 'p-a1', text: 'once' });
    await waitFor(() => told.get('a1')!.includes('once'), 10_000, 'the last message');
    await sleep(300);
    expect(told.get('a1')!.filter((t) => t === 'once')).toHaveLength(1);
    expect(told.get('a1')!.length).toBe(count + 1);
    for (const node of fleet.nodes) {
      expect(node.proc.proc.exitCode).toBeNull();
      expect(node.proc.output()).toMatch(/FLEET REDIS DOWN/);
      expect(node.proc.output()).not.toMatch(/unhandled rejection/);
    }
  }, 60_000);

  it('two nodes placing the same new room at the same moment end with one holder and every member on it', async () => {
    const [x, y] = await Promise.all([player('x0', 0, 'lobby-x0'), player('y1', 1, 'lobby-y1')]);
    // Both enter the same new room at once, each on its own node.
    await Promise.all([x.call('game.enter', { room: 'contested' }), y.call('game.enter', { room: 'contested' })]);
    const holder = async () => (await rooms()).contested;
    await waitFor(async () => {
      const id = await holder();
      const node = fleet.nodes.find((n) => n.id === id);
      return node !== undefined && x.url === node.gameUrl && y.url === node.gameUrl && x.connected && y.connected;
    }, 15_000, 'both players on the node that holds the room').catch(async (err: Error) => {
      throw new Error(`${err.message}: holder ${await holder()}, x ${x.url} ${x.connected}, y ${y.url} ${y.connected}, nodes ${fleet.nodes.map((n) => `${n.id}=${n.gameUrl}`).join(' ')}\n${fleet.logs()}`);
    });
    expect(x.player).toBe('p-x0');
    expect(y.player).toBe('p-y1');
  }, 30_000);

  it('the same player joining on a second node is sent to the node that has it, and takes that session over', async () => {
    const first = await player('twin', 0, 'twin-room');
    const at = first.url;
    const closes: number[] = [];
    first.on('close', (e: { code: number }) => closes.push(e.code));
    const otherUrl = fleet.nodes.map((n) => n.gameUrl).find((u) => u !== at)!;
    const second = new RebindClient(otherUrl, { reconnect: false });
    clients.push(second);
    await second.connect();
    expect(await second.join({ name: 'twin' })).toMatchObject({ player: 'p-twin', resumed: true });
    expect(second.url, `first at ${at}, now ${first.url}; nodes ${fleet.nodes.map((n) => `${n.id}=${n.gameUrl}`).join(" ")}\n${fleet.logs().split("\n").filter((l) => l.includes("twin")).join("\n")}`).toBe(at);
    await waitFor(() => closes.includes(4001), 5000, 'the first connection to be replaced');
  }, 30_000);

  it('one room placed on both nodes while Redis was down: the node that loses the claim sends its members over, and they arrive as members', async () => {
    const downs = () => fleet.nodes.map((n) => n.proc.output().split('FLEET REDIS DOWN').length);
    const before = downs();
    await fleet.redis.stop();
    await waitFor(() => downs().every((d, i) => d > before[i]!), 10_000, 'both nodes to notice the outage');
    const s0 = await player('s0', 0, 'split');
    const s1 = await player('s1', 1, 'split');
    expect([s0.url, s1.url]).toEqual([fleet.nodes[0]!.gameUrl, fleet.nodes[1]!.gameUrl]);
    const shouts = new Map<RebindClient, string[]>([[s0, []], [s1, []]]);
    for (const [c, heard] of shouts) c.on('shout', (m: { text: string }) => heard.push(m.text));
    await fleet.redis.restart();
    // Each node claims the room again; the one Redis gives it to keeps it, the other's member is pushed there.
    await waitFor(() => s0.url === s1.url && s0.connected && s1.connected, 20_000, 'both players on the node that holds "split"').catch((err: Error) => {
      throw new Error(`${err.message}: s0 at ${s0.url}, s1 at ${s1.url}\n${fleet.logs().split('\n').filter((l) => l.includes('split')).join('\n')}`);
    });
    // A shout from either reaches both: the one sent over is a member where the room is.
    let n = 0;
    await waitFor(async () => {
      await s0.call('game.shout', { room: 'split', text: `split ${n++}` });
      return [...shouts.values()].every((heard) => heard.some((t) => t.startsWith('split')));
    }, 15_000, 'a shout in "split" to reach both players').catch((err: Error) => {
      throw new Error(`${err.message}: heard ${JSON.stringify([...shouts.values()])}\n${fleet.logs().split('\n').filter((l) => l.includes('split')).join('\n')}`);
    });
  }, 60_000);

  it('a node killed with -9 and restarted from its data folder takes its rooms back; its player, adopted elsewhere meanwhile, stays there', async () => {
    // A room nobody re-enters while its node is down: the restarted node is the one to claim it.
    // Placement by load decides which node takes it; that node is the one killed.
    const k1 = await player('k1', 1, 'keep-1');
    const v = fleet.nodes.findIndex((n) => n.gameUrl === k1.url);
    const other = fleet.nodes[1 - v]!;
    const victim = fleet.nodes[v]!;
    expect((await rooms())['keep-1']).toBe(victim.id);
    const k1Events: string[] = [];
    for (const e of ['error', 'moved', 'resumed', 'rejoined', 'close']) k1.on(e, (p: unknown) => k1Events.push(`${e} ${JSON.stringify(p)}`));
    await fleet.kill(v);
    await waitFor(() => other.proc.output().includes(`ROOMS LOST with node ${victim.id}`), 20_000, 'the other node to report the rooms lost');
    await waitFor(async () => (await rooms())['keep-1'] === undefined, 5000, 'keep-1 freed');
    // k1's client came back through the other node, which checked its token and adopted it.
    await waitFor(() => k1.connected && k1.url === other.gameUrl, 20_000, 'k1 adopted by the other node').catch((err: Error) => {
      throw new Error(`${err.message}: k1 on ${k1.url} (victim ${victim.gameUrl}, other ${other.gameUrl}), events ${k1Events.join('; ')}`);
    });
    expect(k1.player).toBe('p-k1');
    const again = await fleet.restart(v);
    expect(again.id).toBe(victim.id);
    await waitFor(async () => (await rooms())['keep-1'] === victim.id, 15_000, 'keep-1 taken back').catch(async (err: Error) => {
      throw new Error(`${err.message}: rooms ${JSON.stringify(await rooms())}\n${fleet.logs()}`);
    });
    await waitFor(() => again.proc.output().includes('took back'), 5000, 'the restarted node to say so');
    expect(again.proc.output()).toMatch(/took back \d+ room\(s\)[^\n]*keep-1/);
    // status counts the rooms the fleet's map gives a node, members or not (it said 0 for rooms taken back and still empty).
    const token = readFileSync(path.join(again.dataDir, TOKEN_FILE), 'utf8').trim();
    const inMap = async () => Object.values(await rooms()).filter((holder) => holder === again.id).length;
    await waitFor(async () => {
      const status = await adminRequest<{ fleet: { nodes: { id: string; rooms: number }[] } }>(again.adminUrl, token, 'status');
      return status.fleet.nodes.find((n) => n.id === again.id)?.rooms === (await inMap());
    }, 10_000, 'status to count the rooms rebind:rooms gives the restarted node');
    expect(await inMap()).toBeGreaterThan(0);
    // The restarted node put back k1's session from its data (offline, in its grace) but does not claim the player back.
    expect(await inRedis((r) => r.hget('rebind:player:p-k1', 'node'))).toBe(other.id);
    const m1 = await player('m1', v, 'keep-1');
    expect(m1.url).toBe(again.gameUrl);
    await m1.call('game.tell', { to: 'p-k1', text: 'from the restarted node' });
    await waitFor(() => told.get('k1')!.includes('from the restarted node'), 10_000, 'a message from the restarted node to k1');
  }, 60_000);
});
