import { cpSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { freePort, redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// A copy of a live node's data folder started as a second process: same node
// id. Before, both registered under it (the record flipped between their
// addresses) and both took back the same rooms. Now the copy waits a moment
// (the id's holder may be a node killed a moment ago) and then exits 1 with
// a message that says what to do, and the live node's record is untouched.

describe.skipIf(!redisOrSkip())('fleet: a process that cannot be a node stops', () => {
  let fleet: TestFleet;
  let copy: ServerProcess | undefined;

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 1, files: FLEET_GAME });
  }, 60_000);
  afterAll(async () => {
    await copy?.kill();
    await fleet?.stop();
  });

  it('the copy of a live node\'s data folder refuses to serve as that node and exits 1; the live node keeps its record', async () => {
    const live = fleet.nodes[0]!;
    await waitFor(() => live.proc.output().includes(`node ${live.id} registered`), 15_000, 'the live node to register');
    const copyDir = fleet.project.path('data-copy');
    cpSync(live.dataDir, copyDir, { recursive: true, filter: (src) => !/\.lock|\.sock/.test(src) });
    expect(readFileSync(`${copyDir}/node-id`, 'utf8').trim()).toBe(live.id);

    copy = await startServerProcess(['--root', fleet.project.root, '--data', copyDir, '--fleet', fleet.redis.url], { REBIND_LOG: 'info', NO_COLOR: '1' });
    const code = await new Promise<number | null>((resolve) => {
      if (copy!.proc.exitCode !== null) return resolve(copy!.proc.exitCode);
      copy!.proc.once('exit', (c) => resolve(c));
      setTimeout(() => resolve(-1), 20_000).unref();
    });
    expect(code, copy.output()).toBe(1);
    expect(copy.output()).toContain(`DUPLICATE NODE ID: node id ${live.id}`);
    expect(copy.output()).toContain(live.gameUrl);
    expect(copy.output()).not.toContain(`node ${live.id} registered`);

    const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    try {
      const record = unpack((await redis.getBuffer(`rebind:node:${live.id}`))!) as { gameUrl: string };
      expect(record.gameUrl).toBe(live.gameUrl);
      expect(await redis.smembers('rebind:nodes')).toEqual([live.id]);
    } finally {
      redis.disconnect();
    }
    // The live node never saw itself replaced.
    expect(live.proc.output()).not.toMatch(/DUPLICATE|left the fleet/);
  }, 60_000);

  it('a Redis that is not up at the start is an outage said in rebind\'s words, and the node keeps running', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const node = await startServerProcess(['--root', fleet.project.root, '--data', fleet.project.path('data-no-redis'), '--fleet', url], { REBIND_LOG: 'info', NO_COLOR: '1' });
    try {
      await waitFor(() => node.output().includes('not subscribed yet'), 10_000, 'the subscriber to say it waits');
      expect(node.output()).toContain('FLEET REDIS DOWN');
      // ioredis's "Reached the max retries per request limit" was in the log here before.
      expect(node.output()).not.toMatch(/max retries per request/i);
      expect(node.proc.exitCode).toBeNull();
    } finally {
      await node.kill();
    }
  }, 60_000);

  it('credentials Redis refuses stop the start with exit 1 and a line that says so, instead of retrying for ever', async () => {
    const url = fleet.redis.url.replace('redis://', 'redis://nobody:wrong-password@');
    let out = '';
    let code: number | null;
    try {
      copy = await startServerProcess(['--root', fleet.project.root, '--data', fleet.project.path('data-refused'), '--fleet', url], { REBIND_LOG: 'info', NO_COLOR: '1' });
      code = await new Promise<number | null>((resolve) => {
        if (copy!.proc.exitCode !== null) return resolve(copy!.proc.exitCode);
        copy!.proc.once('exit', (c) => resolve(c));
        setTimeout(() => resolve(-1), 20_000).unref();
      });
      out = copy.output();
    } catch (err) {
      // It may stop before it says it listens.
      out = (err as Error).message;
      code = /exited with (\d+)/.exec(out) ? Number(/exited with (\d+)/.exec(out)![1]) : -1;
    }
    expect(code, out).toBe(1);
    expect(out).toMatch(/refused the credentials in --fleet \(WRONGPASS/);
    expect(out).not.toContain('wrong-password');
    expect(out).not.toContain('FLEET REDIS DOWN');
  }, 60_000);
});
