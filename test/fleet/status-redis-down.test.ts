import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { fleetForTests } from '../helpers/fleet.ts';
import { runCli } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// `rebind status` while the fleet's Redis is out is when an operator needs it
// most: it answers with the node's own status (modules, players, tick), says
// since when Redis is down and that the other nodes are not known now, and
// exits 3 (an answer, but not the whole one). Before, it was only
// "FLEET_UNAVAILABLE ... did not answer", exit 1.

const TOKEN = 'rebind_status_redis_down_token';

describe.skipIf(!redisOrSkip())('fleet: rebind status while Redis is down', () => {
  let redisPid = 0;
  const under = fleetForTests({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });
  const cli = (...args: string[]) => runCli(['status', ...args, '--server', under.fleet.nodes[0]!.adminUrl, '--token', TOKEN]);
  // Before the fleet's own afterAll (hooks run in reverse): a frozen redis-server must wake to be stopped.
  afterAll(() => {
    if (redisPid) process.kill(redisPid, 'SIGCONT');
  });

  it("shows the node's own status, Redis down since when, and exits 3; whole again once Redis is back", async () => {
    const fleet = under.fleet;
    await under.join('st', 0);

    const whole = await cli('--json');
    expect(whole.code, whole.stdout + whole.stderr).toBe(0);
    expect(JSON.parse(whole.stdout).fleet.nodes).toHaveLength(2);

    const stoppedAt = Date.now();
    await fleet.redis.stop();
    await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 15_000, 'node 0 to notice Redis down');

    const json = await cli('--json');
    expect(json.code, json.stdout + json.stderr).toBe(3);
    const status = JSON.parse(json.stdout);
    expect(status.error).toBeUndefined();
    expect(status.players.connected).toBeGreaterThanOrEqual(1);
    expect(status.modules.map((m: { name: string }) => m.name)).toContain('game');
    expect(status.fleet.redis.up).toBe(false);
    expect(status.fleet.redis.downSince).toBeGreaterThanOrEqual(stoppedAt - 1000);
    expect(status.fleet.nodes.map((n: { id: string; self: boolean }) => [n.id, n.self])).toEqual([[fleet.nodes[0]!.id, true]]);

    const text = await cli();
    expect(text.code, text.stdout + text.stderr).toBe(3);
    expect(text.stdout).toMatch(/session\.join: 1 call/);
    expect(text.stdout).toMatch(/fleet's Redis .*DOWN since \d\d:\d\d:\d\d UTC \(\d+(\.\d)? s\).*the other nodes.* are not known now/s);
    expect(text.stderr).toBe('');

    await fleet.redis.restart();
    await waitFor(async () => (await cli('--json')).code === 0, 20_000, 'status to be whole again');
    expect(JSON.parse((await cli('--json')).stdout).fleet.redis.up).toBe(true);
  }, 90_000);

  it('a frozen Redis (connected, answering nothing) alike: before the node has judged it down, and after', async () => {
    const fleet = under.fleet;
    const redis = new Redis(fleet.redis.url, { maxRetriesPerRequest: 0 });
    redis.on('error', () => undefined);
    redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
    redis.disconnect();
    await waitFor(async () => (await cli('--json')).code === 0, 20_000, 'status to be whole');
    const downLines = () => fleet.nodes[0]!.proc.output().split('\n').filter((l) => l.includes('FLEET REDIS DOWN')).length;
    const before = downLines();
    process.kill(redisPid, 'SIGSTOP');
    try {
      // At once: the node still takes Redis for up, and its reads for the fleet's section go unanswered.
      const early = await cli('--json');
      expect(early.code, early.stdout + early.stderr).toBe(3);
      expect(JSON.parse(early.stdout).fleet.redis.up).toBe(false);
      await waitFor(() => downLines() > before, 15_000, 'node 0 to judge the frozen Redis down');
      const late = await cli();
      expect(late.code, late.stdout + late.stderr).toBe(3);
      expect(late.stdout).toMatch(/the fleet's Redis is DOWN since .*did not answer within/);
    } finally {
      process.kill(redisPid, 'SIGCONT');
    }
    await waitFor(async () => (await cli('--json')).code === 0, 20_000, 'status to be whole again');
  }, 90_000);
});
