import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import type { FleetPatchResult } from '../../server/fleet/patch-coordinator.ts';
import type { FleetStatus } from '../../server/fleet/patch-status.ts';
import { adminRequest } from '../helpers/admin.ts';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { COUNTER_STATE, waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { runCli } from '../helpers/process.ts';

// One patch for the whole fleet, all or nothing: three real node processes on
// a real redis-server, players on real sockets on every node.

const TOKEN = 'rebind_fleet_patch_test_token';
const MARKS = `
import { defineStore } from '../server/api';
export const marks = defineStore('marks', { bad: false }, { version: 1 });
`;
const load = (version: number) => `
import { client } from '../server/api';
import { counter } from '../state/counter';
export const hit = client(() => { counter.update((d) => { d.n++; }); return ${version}; });
`;
const MARK = `
import { marks } from '../state/marks';
export function setBad() { marks.update((d) => { d.bad = true; }); }
`;
const check = (version: number, init = '') => `
import { marks } from '../state/marks';
export function init() {
  ${init}
}
export function v() { return ${version}; }
`;

const SESSION = `
import { fail, type Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string') fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
`;

type Status = { fleet: FleetStatus };


describe.skipIf(!redisOrSkip())('a fleet patch', () => {
  let fleet: TestFleet;
  const admin = <T>(index: number, action: string, args: Record<string, unknown> = {}) => adminRequest<T>(fleet.nodes[index]!.adminUrl, TOKEN, action, args);
  const callOn = async (index: number, handler: string) => (await admin<{ result: unknown }>(index, 'call', { handler })).result;

  beforeAll(async () => {
    fleet = await startFleet({
      nodes: 3,
      files: { 'logic/session.ts': SESSION, 'state/counter.ts': COUNTER_STATE, 'state/marks.ts': MARKS, 'logic/load.ts': load(0), 'logic/mark.ts': MARK, 'logic/check.ts': check(1) },
      env: { REBIND_ADMIN_TOKEN: TOKEN },
    });
    // Every node has loaded the fleet's code and sees the two others.
    await waitFor(async () => (await admin<Status>(0, 'status')).fleet.nodes.length === 3, 15_000, 'three nodes in the fleet');
  }, 90_000);
  afterAll(async () => {
    if (process.env.FLEETB_DUMP) (await import('node:fs')).writeFileSync(process.env.FLEETB_DUMP, fleet?.logs() ?? '');
    await fleet?.stop();
  });

  it('lands on all three nodes under load: no request lost or doubled, nobody disconnected, one version everywhere', async () => {
    const clients = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const c = new RebindClient(fleet.nodes[i % 3]!.gameUrl, { reconnect: false });
        await c.connect();
        await c.join({ name: `p${i}` });
        return c;
      }),
    );
    let closes = 0;
    for (const c of clients) c.on('close', () => closes++);
    let replies = 0;
    let stop = false;
    const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
    const calls = clients.map(async (c, i) => {
      let made = 0;
      while (!stop || made < 5) {
        seen[i % 3]!.add(await c.call<number>('load.hit'));
        replies++;
        made++;
        // Under the per-connection rate limit: every request is answered, none refused.
        await new Promise((r) => setTimeout(r, 15));
      }
      return made;
    });
    const results: FleetPatchResult[] = [];
    for (const version of [1, 2]) {
      fleet.project.write('logic/load.ts', load(version));
      results.push(await admin<FleetPatchResult>(version % 3, 'patch', { modules: ['load'] }));
    }
    stop = true;
    const made = (await Promise.all(calls)).reduce((a, b) => a + b, 0);
    for (const r of results) {
      expect(r, fleet.logs()).toMatchObject({ ok: true, fleet: { decision: 'commit' } });
      expect(r.fleet.nodes.map((n) => n.prepared)).toEqual([true, true, true]);
      expect(r.fleet.nodes.every((n) => n.outcome?.ok === true)).toBe(true);
    }
    expect(results[1]!.modules).toMatchObject([{ module: 'load', change: 'updated', newVersion: results[0]!.modules[0]!.newVersion! + 1 }]);
    expect(replies).toBe(made);
    expect(closes).toBe(0);
    expect(clients.reduce((sum, c) => sum + c.unmatchedReplies, 0)).toBe(0);
    // Each node counted exactly the calls its players made.
    const counted = await Promise.all([0, 1, 2].map(async (i) => (await admin<{ n: number }>(i, 'state', { store: 'counter' })).n));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(made);
    // The calls really ran on several versions while the fleet was patched.
    expect(new Set(seen.flatMap((s) => [...s])).size).toBeGreaterThan(1);
    for (const i of [0, 1, 2]) expect((await clients[i]!.call<number>('load.hit'))).toBe(2);
    for (const c of clients) c.close();

    const version = results[1]!.modules[0]!.newVersion;
    await waitFor(async () => (await admin<Status>(1, 'status')).fleet.nodes.every((n) => n.code.load?.version === version), 10_000, 'every node to report the new version');
    const { fleet: status } = await admin<Status>(1, 'status');
    expect(status.manifest!.load!.version).toBe(version);
    expect(status.nodes).toHaveLength(3);
    for (const n of status.nodes) expect(n.differs).toEqual([]);
  }, 120_000);

  it('a patch whose init throws on one node only (data only that node holds) lands on none; the error names the node', async () => {
    await callOn(2, 'mark.setBad');
    fleet.project.write('logic/check.ts', check(2, `if (marks.get().bad) throw new Error('this node holds bad data');`));
    const r = await admin<FleetPatchResult>(0, 'patch', { modules: ['check'] });
    expect(r.ok, JSON.stringify(r)).toBe(false);
    expect(r.fleet.decision).toBe('abort');
    expect(r.error).toMatchObject({ code: 'PATCH_INIT_ERROR', node: fleet.nodes[2]!.id, location: { file: 'logic/check.ts', line: 4 } });
    expect(r.error!.message).toContain(`node ${fleet.nodes[2]!.id} refused`);
    expect(r.error!.frame).toContain("throw new Error('this node holds bad data')");
    expect(r.fleet.nodes.find((n) => n.node === fleet.nodes[2]!.id)).toMatchObject({ prepared: false });
    expect(r.fleet.nodes.filter((n) => n.prepared === true)).toHaveLength(2);
    for (const i of [0, 1, 2]) expect(await callOn(i, 'check.v')).toBe(1);
    // The CLI's way: every node's history has the abort, and no node differs from the fleet's code.
    for (const i of [0, 1]) expect((await admin<Array<{ ok: boolean; error?: { code: string } }>>(i, 'history', { n: 1 }))[0]).toMatchObject({ ok: false, error: { code: 'FLEET_ABORTED' } });
    const { fleet: status } = await admin<Status>(1, 'status');
    for (const n of status.nodes) expect(n.differs).toEqual([]);

    // What a person sees: the CLI against any node.
    const cli = (index: number, ...args: string[]) => runCli([...args, '--server', fleet.nodes[index]!.adminUrl, '--token', TOKEN]);
    const refused = await cli(1, 'patch', 'check');
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain(`node ${fleet.nodes[2]!.id} refused`);
    expect(refused.stdout + refused.stderr).toContain("throw new Error('this node holds bad data')");
    expect(refused.stdout + refused.stderr).toMatch(new RegExp(`${fleet.nodes[2]!.id}\\s+REFUSED \\(PATCH_INIT_ERROR\\)`));
    const shown = await cli(2, 'status');
    expect(shown.code).toBe(0);
    for (const node of fleet.nodes) expect(shown.stdout).toContain(node.id);
    expect(shown.stdout).toMatch(/fleet\s+3 node\(s\)/);
    expect(shown.stdout).not.toContain('DIFFERS');
  }, 60_000);

  it('--verify: calls failing on one node only roll every node back; the answer names that node', async () => {
    const before = await callOn(0, 'check.v');
    // The node marked bad in the test above: there, and only there, the new check.v throws.
    fleet.project.write('logic/check.ts', check(3, '').replace('export function v() { return 3; }', `export function v() { if (marks.get().bad) throw new Error('bad here'); return 3; }`));
    const patched = admin<FleetPatchResult & { verification: { outcome: string; reason: string } }>(0, 'patch', { modules: ['check'], verify: 8000 });
    await waitFor(async () => (await callOn(0, 'check.v')) === 3, 10_000, 'the new version live');
    // Calls on the bad node fail until the fleet rolls back.
    const started = Date.now();
    for (let i = 0; i < 40 && Date.now() - started < 8000; i++) await callOn(2, 'check.v').catch(() => undefined);
    const r = await patched;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, fleet: { decision: 'commit' }, verification: { outcome: 'rolled-back' } });
    expect(r.verification.reason).toContain(`node ${fleet.nodes[2]!.id}`);
    for (const i of [0, 1, 2]) expect(await callOn(i, 'check.v').catch((e: { code?: string }) => e.code)).toBe(before);
    for (const i of [0, 1, 2]) expect((await admin<Array<{ kind: string; ok: boolean }>>(i, 'history', { n: 1 }))[0]).toMatchObject({ kind: 'auto-rollback', ok: true });
  }, 60_000);
});
