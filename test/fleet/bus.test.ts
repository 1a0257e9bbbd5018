import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetNode } from '../../server/fleet/node.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';

// Two fleet nodes in this process on a real redis-server: messages, requests
// and their answers, and every way a request can fail.

const node = (url: string, name: string) => new FleetNode({ url, gameUrl: `ws://127.0.0.1:1/${name}`, load: () => ({ players: 0, rooms: 0 }), code: () => ({}) });

describe.skipIf(!redisOrSkip())('fleet messages over Redis', () => {
  let redis: TestRedis;
  let a: FleetNode;
  let b: FleetNode;
  beforeAll(async () => {
    redis = await startRedis();
    a = node(redis.url, 'a');
    b = node(redis.url, 'b');
    await waitFor(async () => a.connected && b.connected && (await a.liveNodes()).length === 2, 10_000, 'both nodes registered');
    // Registered is not yet subscribed: a request before b's SUBSCRIBE landed was NODE_GONE (a message of a kind nobody handles is dropped quietly).
    await waitFor(async () => (await a.publish(b.id, 'test.ping', null)) === 1 && (await b.publish(a.id, 'test.ping', null)) === 1, 10_000, 'both nodes subscribed');
  }, 30_000);
  afterAll(async () => {
    await a?.leave();
    await b?.leave();
    await redis?.stop();
  });

  it('a request is answered by the handler of the node it names, matched by id', async () => {
    b.on('test.double', (p) => (p as { n: number }).n * 2);
    b.on('test.slow', async (p) => {
      await new Promise((r) => setTimeout(r, 30 - (p as number)));
      return p;
    });
    expect(await a.request(b.id, 'test.double', { n: 21 }, 5000)).toBe(42);
    // Answers that arrive out of order still go to the request that asked.
    const answers = await Promise.all([0, 10, 20, 29].map((n) => a.request(b.id, 'test.slow', n, 5000)));
    expect(answers).toEqual([0, 10, 20, 29]);
  });

  it("a handler's typed error crosses over with its code; a plain throw is HANDLER_ERROR", async () => {
    const { rebindError } = await import('../../server/errors.ts');
    b.on('test.refuse', () => {
      throw rebindError('ROOM_LOST', 'no such room here', { details: { room: 'r1' } });
    });
    b.on('test.throw', () => {
      throw new Error('boom');
    });
    await expect(a.request(b.id, 'test.refuse', null, 5000)).rejects.toMatchObject({ code: 'ROOM_LOST', message: 'no such room here', details: { room: 'r1' } });
    await expect(a.request(b.id, 'test.throw', null, 5000)).rejects.toMatchObject({ code: 'HANDLER_ERROR', message: 'boom' });
    await expect(a.request(b.id, 'test.nobody-handles-this', null, 5000)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('no node with that id: NODE_GONE at once; a handler that never answers: FLEET_TIMEOUT', async () => {
    const started = Date.now();
    await expect(a.request('node-none', 'test.double', { n: 1 }, 5000)).rejects.toMatchObject({ code: 'NODE_GONE' });
    expect(Date.now() - started).toBeLessThan(2000);
    b.on('test.never', () => new Promise(() => undefined));
    await expect(a.request(b.id, 'test.never', null, 300)).rejects.toMatchObject({ code: 'FLEET_TIMEOUT' });
  });

  it('publish to all reaches every node once, this one included', async () => {
    const got: string[] = [];
    a.on('test.hello', (p, from) => void got.push(`a:${String(p)}:${from}`));
    b.on('test.hello', (p, from) => void got.push(`b:${String(p)}:${from}`));
    expect(await a.publish('all', 'test.hello', 'x')).toBe(2);
    await waitFor(() => got.length === 2, 5000, 'both deliveries');
    expect(got.sort()).toEqual([`a:x:${a.id}`, `b:x:${a.id}`]);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(2);
  });

  it('garbage on a node\'s channel is dropped; the node keeps answering', async () => {
    const { Redis } = await import('ioredis');
    const raw = new Redis(redis.url);
    try {
      for (const junk of [Buffer.from([0xc1, 0xff, 0x00]), Buffer.from('not msgpack at all'), Buffer.from([0x93, 0x01, 0x02, 0x03])]) {
        expect(await raw.publish(`rebind:to:${b.id}`, junk)).toBe(1);
      }
    } finally {
      raw.disconnect();
    }
    expect(await a.request(b.id, 'test.double', { n: 5 }, 5000)).toBe(10);
  });

  it('while Redis is down a request fails fast with FLEET_UNAVAILABLE; after a restart messages flow again', async () => {
    await redis.stop().catch(() => undefined);
    await waitFor(() => !a.connected, 5000, 'a to see Redis down');
    const started = Date.now();
    await expect(a.request(b.id, 'test.double', { n: 1 }, 5000)).rejects.toMatchObject({ code: 'FLEET_UNAVAILABLE' });
    await expect(a.liveNodes()).rejects.toMatchObject({ code: 'FLEET_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(1000);
    await redis.restart();
    await waitFor(async () => (await a.liveNodes()).length === 2, 10_000, 'both nodes registered again');
    await waitFor(async () => (await a.request(b.id, 'test.double', { n: 4 }, 2000)) === 8, 10_000, 'requests to flow again');
  }, 30_000);
});
