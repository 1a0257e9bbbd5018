import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../helpers/admin.ts';
import type { FleetPatchResult } from '../../server/fleet/patch-coordinator.ts';
import type { FleetStatus } from '../../server/fleet/patch-status.ts';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';

// kill -9 of one node while a fleet patch is preparing: the two others end in
// the same state (both committed or both not), and the killed node, restarted
// from its data folder, runs the fleet's manifest, not its own saved code nor
// its disk.

const TOKEN = 'rebind_fleet_kill_test_token';
// init spins for a while, so that the kill falls inside the prepare.
const slow = (version: number, spinMs = 0) => `
export function init() { const end = Date.now() + ${spinMs}; while (Date.now() < end) {} }
export function v() { return ${version}; }
`;


describe.skipIf(!redisOrSkip())('kill -9 during a fleet patch', () => {
  let fleet: TestFleet;
  const admin = <T>(index: number, action: string, args: Record<string, unknown> = {}) => adminRequest<T>(fleet.nodes[index]!.adminUrl, TOKEN, action, args);
  const version = async (index: number) => (await admin<{ result: number }>(index, 'call', { handler: 'slow.v' })).result;
  const status = async (index: number) => (await admin<{ fleet: FleetStatus }>(index, 'status')).fleet;

  beforeAll(async () => {
    fleet = await startFleet({ nodes: 3, files: { 'logic/slow.ts': slow(1) }, env: { REBIND_ADMIN_TOKEN: TOKEN } });
    await waitFor(async () => (await status(0)).nodes.length === 3, 15_000, 'three nodes in the fleet');
  }, 90_000);
  afterAll(async () => {
    if (process.env.FLEETB_DUMP) (await import('node:fs')).writeFileSync(process.env.FLEETB_DUMP, fleet?.logs() ?? '');
    await fleet?.stop();
  });

  it('the two others end alike; the killed node comes back on the fleet manifest', async () => {
    fleet.project.write('logic/slow.ts', slow(2, 1200));
    const patching = admin<FleetPatchResult>(0, 'patch', { modules: ['slow'], prepareMs: 4000 });
    await sleep(300);
    await fleet.kill(2);
    const r = await patching;
    const [v0, v1] = [await version(0), await version(1)];
    expect(v0).toBe(v1);
    expect(v0).toBe(r.fleet.decision === 'commit' ? 2 : 1);
    if (r.fleet.decision === 'abort') expect(r.error).toMatchObject({ node: fleet.nodes[2]!.id });

    // The fleet goes on without it once it is gone from the fleet; then its disk changes to something else again.
    await waitFor(async () => (await status(1)).nodes.length === 2, 15_000, 'the killed node to leave the fleet');
    fleet.project.write('logic/slow.ts', slow(3));
    const next = await admin<FleetPatchResult>(1, 'patch', { modules: ['slow'] });
    expect(next, JSON.stringify(next)).toMatchObject({ ok: true, fleet: { decision: 'commit' } });
    expect(next.fleet.nodes).toHaveLength(2);
    fleet.project.write('logic/slow.ts', slow(9));

    await fleet.restart(2);
    await waitFor(async () => (await version(2)) === 3, 20_000, 'the restarted node to run the fleet manifest (v3)');
    const s = await status(2);
    expect(s.nodes.find((n) => n.self)).toMatchObject({ id: fleet.nodes[2]!.id, differs: [] });
    expect(s.manifest!.slow!.version).toBe(next.modules[0]!.newVersion);
    for (const i of [0, 1, 2]) expect(await version(i)).toBe(3);
    expect(fleet.nodes[2]!.proc.output()).toContain("loaded the fleet's live code: slow v");
  }, 120_000);

  it('kill -9 of the node running the patch while the others prepare: they abort on their own, nobody stays prepared, the fleet patches again at once', async () => {
    fleet.project.write('logic/slow.ts', slow(4, 1200));
    const coordinator = fleet.nodes[0]!;
    void admin(0, 'patch', { modules: ['slow'], prepareMs: 1500 }).catch(() => undefined);
    await sleep(300);
    await fleet.kill(0);
    // Prepared, they hear nothing: 2 s after the deadline they ask the record, 5 s after it they write "abort".
    for (const i of [1, 2]) {
      await waitFor(async () => (await admin<Array<{ error?: { code: string } }>>(i, 'history', { n: 1 }))[0]?.error?.code === 'FLEET_ABORTED', 20_000, `node ${i} to abort on its own`);
      expect(await version(i)).toBe(3);
    }
    expect(fleet.nodes[1]!.proc.output() + fleet.nodes[2]!.proc.output()).toContain('the decision record says abort');
    // The dead node's lock does not hold the fleet up: once it is gone, the next patch takes it over.
    await waitFor(async () => (await status(1)).nodes.length === 2, 15_000, 'the killed coordinator to leave the fleet');
    fleet.project.write('logic/slow.ts', slow(5));
    const next = await admin<FleetPatchResult>(2, 'patch', { modules: ['slow'] });
    expect(next, JSON.stringify(next)).toMatchObject({ ok: true, fleet: { decision: 'commit' } });
    for (const i of [1, 2]) expect(await version(i)).toBe(5);
    await fleet.restart(0);
    await waitFor(async () => (await version(0)) === 5, 20_000, 'the restarted coordinator to run the fleet manifest');
    expect(fleet.nodes[0]!.id).toBe(coordinator.id);
  }, 120_000);
});
