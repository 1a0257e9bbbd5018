import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetForTests, type TestFleet } from '../helpers/fleet.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';
import { metricOf } from './players.ts';

// A Redis that stops answering but keeps its connections open (a frozen
// process, kill -STOP; a stalled host) was not an outage to the nodes: no
// FLEET REDIS DOWN line, rebind_fleet_redis_up stayed 1, a new room's join
// waited 2 s for Redis and failed with FLEET_UNAVAILABLE, and pushes kept
// going into a socket nobody read, then went again once held (twice, once
// Redis woke up). Now a Redis that does not answer within a bound is down,
// exactly as one that is gone, and back when it answers; a push whose
// PUBLISH ran late after it was held and sent again arrives once.

const TOKEN = 'rebind_fleet_frozen_test_token';
const FREEZE_MS = 8000;

describe.skipIf(!redisOrSkip())('fleet: a frozen Redis', () => {
  const under = fleetForTests({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });
  let fleet: TestFleet;
  let redis: Redis;
  let redisPid = 0;
  beforeAll(async () => {
    fleet = under.fleet;
    redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    redis.on('error', () => undefined);
    // Which process to freeze: Redis says its own pid.
    redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
  });
  // Before the fleet's own afterAll (hooks run in reverse): a frozen redis-server must wake to be stopped.
  afterAll(() => {
    if (redisPid) process.kill(redisPid, 'SIGCONT');
    redis?.disconnect();
  });

  const join = (name: string, node: number) => under.join(name, node);
  const metric = (node: number, sample: string) => metricOf(fleet, node, TOKEN, sample);

  it('is down while it does not answer (line, metric, local placement, pushes held), back when it does; each push arrives once', async () => {
    const a = await join('fa', 0);
    const b = await join('fb', 1);
    const told: string[] = [];
    const shouts: string[] = [];
    b.on('told', (m: { text: string }) => told.push(m.text));
    b.on('shout', (m: { text: string }) => shouts.push(m.text));
    await b.call('game.enter', { room: 'hall' });
    await a.call('game.tell', { to: 'p-fb', text: 'before' });
    await a.call('game.shout', { room: 'hall', text: 'before' });
    await waitFor(() => told.includes('before') && shouts.includes('before'), 10_000, 'cross-node pushes before');

    const log0 = () => fleet.nodes[0]!.proc.output();
    const frozenAt = Date.now();
    process.kill(redisPid, 'SIGSTOP');
    // Pushes from the first moment on: the first ones go into the frozen socket (and run when Redis wakes), later ones are held.
    const sent: string[] = [];
    let sending = true;
    let sendFailed: unknown;
    const sender = (async () => {
      for (let i = 0; sending; i++) {
        await a.call('game.tell', { to: 'p-fb', text: `during ${i}` });
        await a.call('game.shout', { room: 'hall', text: `during ${i}` });
        sent.push(`during ${i}`);
        await sleep(50);
      }
    })().catch((err: unknown) => void (sendFailed = err));
    try {
      await waitFor(() => log0().includes('FLEET REDIS DOWN'), FREEZE_MS - 1000, 'node 0 to say Redis is down');
      expect(Date.now() - frozenAt).toBeLessThan(FREEZE_MS);
      expect(log0()).toMatch(/FLEET REDIS DOWN at \S+: connected, but it did not answer within/);
      expect(await metric(0, 'rebind_fleet_redis_up')).toBe(0);
      // A room no node holds is placed here at once, as when Redis is gone.
      const joinedAt = Date.now();
      expect(await a.call('game.enter', { room: 'fresh' })).toEqual({ room: 'fresh', player: 'p-fa' });
      expect(Date.now() - joinedAt).toBeLessThan(1000);
      // A call to another node's room fails at once, not after a wait.
      const calledAt = Date.now();
      const refused = await a.call('game.count', { room: 'hall' }).then(() => undefined, (err: unknown) => err);
      expect((refused as { code?: string } | undefined)?.code).toBe('FLEET_UNAVAILABLE');
      expect(Date.now() - calledAt).toBeLessThan(1000);
      await waitFor(() => Date.now() - frozenAt > FREEZE_MS, FREEZE_MS + 1000, 'the freeze to last');
    } finally {
      process.kill(redisPid, 'SIGCONT');
    }
    sending = false;
    await sender;
    expect(sendFailed).toBeUndefined();
    await waitFor(() => /fleet Redis back at \S+ after/.test(log0()), 10_000, 'node 0 to say Redis is back');
    await a.call('game.tell', { to: 'p-fb', text: 'after' });
    await a.call('game.shout', { room: 'hall', text: 'after' });
    await waitFor(() => told.includes('after') && shouts.includes('after'), 20_000, 'the pushes after');
    // Give a late double time to show.
    await sleep(1000);
    expect(told).toEqual(['before', ...sent, 'after']);
    expect(shouts).toEqual(['before', ...sent, 'after']);
    expect(await metric(0, 'rebind_fleet_redis_up')).toBe(1);
    expect(await metric(0, 'rebind_fleet_pushes_lost_total')).toBe(0);
    // The room placed here while Redis was frozen is claimed in Redis once it answers.
    await waitFor(async () => (await redis.hget('rebind:rooms', 'fresh')) === fleet.nodes[0]!.id, 10_000, 'the room placed during the freeze to be claimed');
    expect(fleet.logs()).not.toContain('NODE LOST');
  }, 90_000);
});
