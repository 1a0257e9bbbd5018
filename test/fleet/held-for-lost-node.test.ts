import { describe, expect, it } from 'vitest';
import { fleetForTests } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Pushes held during a Redis outage for a node that died meanwhile: once the
// fleet reports that node lost, nothing can take them there, so they are
// settled at once (counted lost, for that node) instead of lingering until
// the hold's end (30 s) and being blamed on the hold. The outage's one line
// says so.

const TOKEN = 'rebind_held_for_lost_node_token';
const outageLines = (log: string) => log.split('\n').filter((l) => /push\(es\) held while Redis was down/.test(l));

describe.skipIf(!redisOrSkip())('fleet: pushes held for a node reported lost', () => {
  const under = fleetForTests({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });

  it('are counted lost as soon as the node is reported lost, under that reason, in the one outage line', async () => {
    const join = (name: string, node: number) => under.join(name, node);
    const fleet = under.fleet;
    const a = await join('ha', 0);
    const b = await join('hb', 1);
    const told: string[] = [];
    b.on('told', (m: { text: string }) => told.push(m.text));
    await b.call('game.enter', { room: 'den' });
    await a.call('game.tell', { to: 'p-hb', text: 'before' });
    await waitFor(() => told.includes('before'), 10_000, 'a cross-node push before the outage');
    const lostId = fleet.nodes[1]!.id;

    await fleet.redis.stop();
    await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 10_000, 'node 0 to notice the outage');
    for (let i = 0; i < 8; i++) await a.call('game.tell', { to: 'p-hb', text: `held ${i}` });
    for (let i = 0; i < 4; i++) await a.call('game.shout', { room: 'den', text: `held ${i}` });
    await fleet.kill(1);
    await fleet.redis.restart();
    const log0 = () => fleet.nodes[0]!.proc.output();
    await waitFor(() => log0().includes(`NODE LOST ${lostId}`), 20_000, 'node 0 to report node 1 lost');
    const lostAt = Date.now();
    // Settled now: well within the 30 s hold.
    await waitFor(() => outageLines(log0()).length > 0, 10_000, "the outage's line once the node is reported lost");
    expect(Date.now() - lostAt).toBeLessThan(10_000);
    const lines = outageLines(log0());
    expect(lines, log0()).toHaveLength(1);
    expect(lines[0]).toContain(`0 cross-node push(es) held while Redis was down were delivered late, 12 lost (for node ${lostId}, reported lost)`);
    const res = await fetch(`${fleet.nodes[0]!.adminUrl.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const metrics = await res.text();
    expect(metrics).toMatch(/^rebind_fleet_pushes_held 0$/m);
    expect(metrics).toMatch(/^rebind_fleet_pushes_lost_total 12$/m);
    expect(told).toEqual(['before']);
  }, 90_000);
});
