import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// A node whose --fleet URL names a database Redis does not have, started
// while Redis was down: when Redis came up, the node's own connection was
// refused its SELECT, which ioredis only reports, and went on in database 0,
// another fleet's, where the node registered and seeded its manifest before
// the start's check stopped it. The refused SELECT now stops the node's
// connections at once, like refused credentials, and database 0 is untouched.

let redis: TestRedis;
let project: TempProject;
let node: ServerProcess | undefined;

beforeAll(async () => {
  if (!redisOrSkip()) return;
  redis = await startRedis();
  project = new TempProject(FLEET_GAME);
}, 30_000);
afterAll(async () => {
  await node?.kill();
  await redis?.stop();
  project?.cleanup();
});

it.skipIf(!redisOrSkip())('a database Redis refuses on the node\'s own connection stops the node before it writes anywhere', async () => {
  await redis.stop();
  node = await startServerProcess(['--root', project.root, '--data', project.path('data-99'), '--fleet', `${redis.url}/99`], { REBIND_LOG: 'info', NO_COLOR: '1' });
  await waitFor(() => node!.output().includes('FLEET REDIS DOWN'), 15_000, 'the node to see the outage');
  await redis.restart();
  const proc = node.proc;
  const code = await new Promise<number | null | string>((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.once('exit', (c) => resolve(c));
    setTimeout(() => resolve('still running'), 20_000).unref();
  });
  expect(code, node.output()).toBe(1);
  expect(node.output()).toContain('has no database 99');
  const r = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  try {
    expect(await r.keys('rebind:*'), node.output()).toEqual([]);
  } finally {
    r.disconnect();
  }
}, 60_000);
