import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetUrlProblem } from '../../server/fleet/fleet-url.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// The database in the --fleet URL. Before, "redis://host:port/abc" joined
// the fleet in database 0 (ioredis sent SELECT NaN, Redis refused it, the
// connection went on in database 0) and "/99" on a Redis with 16 databases
// was retried for ever as an outage. Now a path that is not a database number
// is a bad flag (exit 2, one line naming the path), a database Redis does not
// have stops the start (exit 1, a line that says so), and a good one is used.

it('a path that is not a database number is named; a database number, no path and "/" are fine', () => {
  expect(fleetUrlProblem('redis://127.0.0.1:6379/abc')).toBe('--fleet redis://127.0.0.1:6379/abc: the path "/abc" must be a database number (redis://host:port/2), or nothing for database 0');
  expect(fleetUrlProblem('redis://127.0.0.1:6379/1/2')).toMatch(/the path "\/1\/2" must be a database number/);
  expect(fleetUrlProblem('redis://127.0.0.1:6379/-1')).toMatch(/the path "\/-1" must be a database number/);
  expect(fleetUrlProblem('redis://u:secret@127.0.0.1:6379/x')).not.toContain('secret');
  expect(fleetUrlProblem('redis://127.0.0.1:6379/?db=x')).toMatch(/"db=x" must be one database number/);
  expect(fleetUrlProblem('http://127.0.0.1:6379')).toMatch(/must be a Redis URL/);
  // Named as written (decoded, "/%31" read "/1", a database number); two databases named at once are refused.
  expect(fleetUrlProblem('redis://127.0.0.1:6379/%31')).toBe('--fleet redis://127.0.0.1:6379/%31: the path "/%31" must be a database number (redis://host:port/2), or nothing for database 0');
  expect(fleetUrlProblem('redis://127.0.0.1:6379/15?db=3')).toBe('--fleet redis://127.0.0.1:6379/15?db=3: the path names database 15 and "db=3" names another; give the database once');
  expect(fleetUrlProblem('redis://127.0.0.1:6379/3?db=3')).toBeUndefined();
  for (const good of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/3', 'rediss://u:p@h.example:6380/15', 'redis://127.0.0.1:6379?db=2']) expect(fleetUrlProblem(good), good).toBeUndefined();
});

describe.skipIf(!redisOrSkip())('fleet: the database in the --fleet URL', () => {
  let redis: TestRedis;
  let project: TempProject;
  const started: ServerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    project = new TempProject(FLEET_GAME);
  }, 30_000);
  afterAll(async () => {
    for (const p of started) await p.kill();
    await redis?.stop();
    project?.cleanup();
  });

  /** Starts a node on `url`; its exit code and output if it stops within 20 s, else the running process. */
  async function start(url: string, data: string): Promise<{ code: number | null; out: string; proc?: ServerProcess }> {
    let proc: ServerProcess;
    try {
      proc = await startServerProcess(['--root', project.root, '--data', project.path(data), '--fleet', url], { REBIND_LOG: 'info', NO_COLOR: '1' });
    } catch (err) {
      const out = (err as Error).message;
      return { code: /exited with (\d+)/.exec(out) ? Number(/exited with (\d+)/.exec(out)![1]) : -1, out };
    }
    started.push(proc);
    return { code: null, out: proc.output(), proc };
  }

  async function nodesIn(db: number): Promise<string[]> {
    const r = new Redis(redis.url, { db, maxRetriesPerRequest: 0 });
    try {
      return await r.smembers('rebind:nodes');
    } finally {
      r.disconnect();
    }
  }

  it('"/abc" is refused before anything starts (exit 2); "/99", a database Redis does not have, stops the start (exit 1); neither joins database 0', async () => {
    const bad = await start(`${redis.url}/abc`, 'data-abc');
    expect(bad.code, bad.out).toBe(2);
    expect(bad.out).toContain(`--fleet ${redis.url}/abc: the path "/abc" must be a database number`);
    expect(bad.out).not.toMatch(/ReplyError|value is not an integer|joining the fleet/);

    const missing = await start(`${redis.url}/99`, 'data-99');
    expect(missing.code, missing.out).toBe(1);
    expect(missing.out).toContain(`could not start: this process cannot be a node of the fleet: Redis at ${redis.url} has no database 99 (it answered \\"ERR DB index is out of range\\")`);
    expect(missing.out).not.toContain('FLEET REDIS DOWN');

    expect(await nodesIn(0)).toEqual([]);
  }, 60_000);

  it('a Redis that is down at the start and then has no such database: the node stops with exit 1 once Redis answers, instead of an endless outage', async () => {
    const later = await startRedis();
    try {
      await later.stop();
      const node = await start(`${later.url}/99`, 'data-99-later');
      expect(node.proc, node.out).toBeDefined();
      await waitFor(() => node.proc!.output().includes('FLEET REDIS DOWN'), 15_000, 'the node to see the outage');
      await later.restart();
      const proc = node.proc!.proc;
      const code = await new Promise<number | null | string>((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (c) => resolve(c));
        setTimeout(() => resolve('still running'), 20_000).unref();
      });
      expect(code, node.proc!.output()).toBe(1);
      expect(node.proc!.output()).toContain('stopping: this process cannot be a node of the fleet: Redis at');
      expect(node.proc!.output()).toContain('has no database 99');
    } finally {
      await later.stop();
    }
  }, 60_000);

  it('"/3" is database 3: the node registers there, not in database 0', async () => {
    const good = await start(`${redis.url}/3`, 'data-3');
    expect(good.proc, good.out).toBeDefined();
    await waitFor(() => /node (\S+) registered/.test(good.proc!.output()), 15_000, 'the node to register');
    const id = /node (\S+) registered/.exec(good.proc!.output())![1]!;
    expect(await nodesIn(3)).toEqual([id]);
    expect(await nodesIn(0)).toEqual([]);
  }, 60_000);
});
