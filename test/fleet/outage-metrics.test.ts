import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// What an operator sees of a Redis outage: pushes for other nodes lost while
// Redis is down are said in one line when it is back, with their count (not
// one warning per push: 107 lines for a 3.4 s outage before), and /metrics
// carries the fleet's figures (Redis up, live nodes, messages, pushes lost).

const TOKEN = 'rebind_fleet_metrics_test_token';

describe.skipIf(!redisOrSkip())('fleet: a Redis outage in the log and in /metrics', () => {
  let fleet: TestFleet;
  const clients: RebindClient[] = [];

  const scrape = async (node: number): Promise<string> => {
    const base = fleet.nodes[node]!.adminUrl.replace(/^ws/, 'http');
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return res.text();
  };
  const value = (text: string, sample: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
    if (!line) throw new Error(`no sample ${sample} in /metrics:\n${text.split('\n').filter((l) => l.includes('fleet')).join('\n')}`);
    return Number(line.slice(sample.length + 1));
  };

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });
    for (const node of fleet.nodes) await waitFor(() => fleet.nodes.every((o) => o === node || node.proc.output().includes(`node ${o.id} is live`)), 15_000, `node ${node.index} to see the other`);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await fleet?.stop();
  });

  it('pushes lost during the outage: one line with their count; /metrics counts them and says Redis was down', async () => {
    const join = async (name: string, node: number) => {
      const client = new RebindClient(fleet.nodes[node]!.gameUrl, { reconnect: false });
      clients.push(client);
      await client.connect();
      await client.join({ name });
      return client;
    };
    const a = await join('oa', 0);
    const told: string[] = [];
    (await join('ob', 1)).on('told', (m: { text: string }) => told.push(m.text));
    await a.call('game.tell', { to: 'p-ob', text: 'before' });
    await waitFor(() => told.includes('before'), 10_000, 'a cross-node push before the outage');
    const before = await scrape(0);
    expect(value(before, 'rebind_fleet_redis_up')).toBe(1);
    expect(value(before, 'rebind_fleet_nodes_live')).toBe(2);
    expect(value(before, 'rebind_fleet_messages_total{direction="sent"}')).toBeGreaterThan(0);
    // The push went from node 0 to node 1.
    expect(value(await scrape(1), 'rebind_fleet_messages_total{direction="received"}')).toBeGreaterThan(0);
    expect(value(before, 'rebind_fleet_pushes_lost_total')).toBe(0);

    await fleet.redis.stop();
    await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 10_000, 'node 0 to notice the outage');
    const lost = 40;
    for (let i = 0; i < lost; i++) await a.call('game.tell', { to: 'p-ob', text: `during ${i}` });
    await waitFor(async () => value(await scrape(0), 'rebind_fleet_pushes_lost_total') === lost, 10_000, `${lost} pushes counted lost`);
    expect(value(await scrape(0), 'rebind_fleet_redis_up')).toBe(0);
    const log0 = () => fleet.nodes[0]!.proc.output();
    expect(log0()).not.toMatch(/push\(es\) lost|could not reach the fleet/);

    await fleet.redis.restart();
    await waitFor(() => log0().includes('lost while Redis was down'), 15_000, 'the outage\'s lost pushes to be said');
    const lines = log0().split('\n').filter((l) => /push\(es\) lost|could not reach the fleet/.test(l));
    expect(lines, lines.join('\n')).toHaveLength(1);
    expect(lines[0]).toContain(`${lost} cross-node push(es) lost while Redis was down`);
    await waitFor(async () => value(await scrape(0), 'rebind_fleet_redis_up') === 1, 10_000, 'Redis up again in /metrics');
    expect(told.filter((t) => t.startsWith('during'))).toEqual([]);
    // ioredis's own words never reach the log (at the start, or in the outage).
    expect(fleet.logs()).not.toMatch(/max retries per request/i);
  }, 60_000);
});
