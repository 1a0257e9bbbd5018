import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startFleet, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// A short Redis outage loses no committed push: pushes for another node's
// players and rooms are held while Redis is down and delivered once it is
// back, each once, in order per target; pushes held longer than the age
// bound are lost and counted. The operator sees one line per outage with
// what was delivered late and what was lost, and /metrics carries the same
// figures (held now, delivered late, lost) beside Redis up and the nodes.

const TOKEN = 'rebind_fleet_metrics_test_token';

interface Two {
  fleet: TestFleet;
  clients: RebindClient[];
}

async function twoNodes(env: Record<string, string> = {}): Promise<Two> {
  const fleet = await startFleet({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN, ...env } });
  await untilNodesSeeEachOther(fleet);
  return { fleet, clients: [] };
}

async function join(two: Two, name: string, node: number): Promise<RebindClient> {
  const client = new RebindClient(two.fleet.nodes[node]!.gameUrl, { reconnect: false });
  two.clients.push(client);
  await client.connect();
  await client.join({ name });
  return client;
}

async function scrape(two: Two, node: number): Promise<string> {
  const base = two.fleet.nodes[node]!.adminUrl.replace(/^ws/, 'http');
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  if (!line) throw new Error(`no sample ${sample} in /metrics:\n${text.split('\n').filter((l) => l.includes('fleet')).join('\n')}`);
  return Number(line.slice(sample.length + 1));
}

const outageLines = (log: string) => log.split('\n').filter((l) => /push\(es\) (lost|held)|could not reach the fleet/.test(l));

describe.skipIf(!redisOrSkip())('fleet: pushes during a Redis outage', () => {
  let two: Two;
  beforeAll(async () => {
    two = await twoNodes();
  }, 60_000);
  afterAll(async () => {
    for (const c of two?.clients ?? []) c.close();
    await two?.fleet.stop();
  });

  it('are held, then delivered once each and in order when Redis is back; one line and /metrics say so', async () => {
    const { fleet } = two;
    const a = await join(two, 'oa', 0);
    const b = await join(two, 'ob', 1);
    const told: string[] = [];
    const shouts: string[] = [];
    b.on('told', (m: { text: string }) => told.push(m.text));
    b.on('shout', (m: { text: string }) => shouts.push(m.text));
    // ob's room is on node 1 (equal load: it stays where ob is); node 0 learns so from the fleet.
    await b.call('game.enter', { room: 'hall' });
    await a.call('game.tell', { to: 'p-ob', text: 'before' });
    await waitFor(() => told.includes('before'), 10_000, 'a cross-node push before the outage');
    await a.call('game.shout', { room: 'hall', text: 'before' });
    await waitFor(() => shouts.includes('before'), 10_000, 'a cross-node broadcast before the outage');
    const before = await scrape(two, 0);
    expect(value(before, 'rebind_fleet_redis_up')).toBe(1);
    expect(value(before, 'rebind_fleet_nodes_live')).toBe(2);
    expect(value(before, 'rebind_fleet_messages_total{direction="sent"}')).toBeGreaterThan(0);
    expect(value(await scrape(two, 1), 'rebind_fleet_messages_total{direction="received"}')).toBeGreaterThan(0);
    expect(value(before, 'rebind_fleet_pushes_lost_total')).toBe(0);

    await fleet.redis.stop();
    await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 10_000, 'node 0 to notice the outage');
    const sends = 40;
    for (let i = 0; i < sends; i++) {
      await a.call('game.tell', { to: 'p-ob', text: `during ${i}` });
      if (i % 4 === 0) await a.call('game.shout', { room: 'hall', text: `during ${i}` });
    }
    const held = sends + sends / 4;
    await waitFor(async () => value(await scrape(two, 0), 'rebind_fleet_pushes_held') === held, 10_000, `${held} pushes held`);
    expect(value(await scrape(two, 0), 'rebind_fleet_redis_up')).toBe(0);
    expect(told.filter((t) => t.startsWith('during'))).toEqual([]);
    const log0 = () => fleet.nodes[0]!.proc.output();
    expect(outageLines(log0())).toEqual([]);

    await fleet.redis.restart();
    const expectedTold = Array.from({ length: sends }, (_, i) => `during ${i}`);
    const expectedShouts = expectedTold.filter((_, i) => i % 4 === 0);
    await waitFor(() => told.length >= sends + 1 && shouts.length >= sends / 4 + 1, 20_000, 'the held pushes to arrive');
    // A push sent after the outage comes after every held one (order per target), so once it is here any double would be too.
    await a.call('game.tell', { to: 'p-ob', text: 'after' });
    // Generous: on a loaded machine (a CI run at full load) the nodes' Redis connections can take seconds to settle after the restart.
    await waitFor(() => told.includes('after'), 30_000, 'a push after the outage');
    expect(told).toEqual(['before', ...expectedTold, 'after']);
    expect(shouts).toEqual(['before', ...expectedShouts]);
    await waitFor(() => outageLines(log0()).length > 0, 10_000, "the outage's line");
    const lines = outageLines(log0());
    expect(lines, lines.join('\n')).toHaveLength(1);
    expect(lines[0]).toContain(`${held} cross-node push(es) held while Redis was down were delivered late, none lost`);
    const after = await scrape(two, 0);
    expect(value(after, 'rebind_fleet_redis_up')).toBe(1);
    expect(value(after, 'rebind_fleet_pushes_held')).toBe(0);
    expect(value(after, 'rebind_fleet_pushes_delivered_late_total')).toBe(held);
    expect(value(after, 'rebind_fleet_pushes_lost_total')).toBe(0);
    // ioredis's own words never reach the log (at the start, or in the outage).
    expect(fleet.logs()).not.toMatch(/max retries per request/i);
  }, 90_000);
});

describe.skipIf(!redisOrSkip())('fleet: an outage longer than the hold', () => {
  const HOLD_MS = 6000;
  let two: Two;
  beforeAll(async () => {
    two = await twoNodes({ REBIND_FLEET_HOLD_MS: String(HOLD_MS) });
  }, 60_000);
  afterAll(async () => {
    for (const c of two?.clients ?? []) c.close();
    await two?.fleet.stop();
  });

  it('loses (and counts) the pushes held longer than the bound, delivers the younger ones', async () => {
    const { fleet } = two;
    const a = await join(two, 'la', 0);
    const b = await join(two, 'lb', 1);
    const told: string[] = [];
    b.on('told', (m: { text: string }) => told.push(m.text));
    await a.call('game.tell', { to: 'p-lb', text: 'before' });
    await waitFor(() => told.includes('before'), 10_000, 'a cross-node push before the outage');

    await fleet.redis.stop();
    await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 10_000, 'node 0 to notice the outage');
    for (let i = 0; i < 5; i++) await a.call('game.tell', { to: 'p-lb', text: `old ${i}` });
    const oldSentAt = Date.now();
    // The outage lasts past the hold bound for the old pushes.
    await waitFor(() => Date.now() - oldSentAt > HOLD_MS + 1000, HOLD_MS + 5000, 'the old pushes to outlive the hold');
    for (let i = 0; i < 5; i++) await a.call('game.tell', { to: 'p-lb', text: `new ${i}` });
    await fleet.redis.restart();
    await waitFor(() => told.includes('new 4'), 20_000, 'the younger held pushes to arrive');
    await a.call('game.tell', { to: 'p-lb', text: 'after' });
    // Generous: on a loaded machine (a CI run at full load) the nodes' Redis connections can take seconds to settle after the restart.
    await waitFor(() => told.includes('after'), 30_000, 'a push after the outage');
    expect(told).toEqual(['before', 'new 0', 'new 1', 'new 2', 'new 3', 'new 4', 'after']);
    const log0 = fleet.nodes[0]!.proc.output();
    await waitFor(() => outageLines(fleet.nodes[0]!.proc.output()).length > 0, 10_000, "the outage's line");
    const lines = outageLines(fleet.nodes[0]!.proc.output());
    expect(lines, log0).toHaveLength(1);
    expect(lines[0]).toContain(`5 cross-node push(es) held while Redis was down were delivered late, 5 lost (held longer than ${HOLD_MS / 1000} s`);
    const after = await scrape(two, 0);
    expect(value(after, 'rebind_fleet_pushes_lost_total')).toBe(5);
    expect(value(after, 'rebind_fleet_pushes_delivered_late_total')).toBe(5);
    expect(value(after, 'rebind_fleet_pushes_held')).toBe(0);
  }, 90_000);
});
