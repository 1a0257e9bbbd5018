import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FleetNode } from '../../server/fleet/node.ts';
import { FleetPatcher } from '../../server/fleet/patch-coordinator.ts';
import { FleetPatchNode, PREPARE_KIND } from '../../server/fleet/patch-node.ts';
import { nextManifest } from '../../server/fleet/manifest.ts';
import { Host } from '../../server/host.ts';
import type { ShippedPatch } from '../../server/patch/prepared.ts';
import { shipPlan } from '../../server/patch/shipped.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';

// The coordinator and each node's side of a fleet patch, with hosts in this
// process on a real redis-server (fast to set up; the acceptance tests in
// patch-fleet.test.ts and patch-kill.test.ts run real node processes).

const MARKS = `
import { defineStore } from '../server/api';
export const marks = defineStore('marks', { bad: false, inits: 0 }, { version: 1 });
`;
const mod = (v: number, init = '') => `
import { marks } from '../state/marks';
export function init() { marks.update((d) => { d.inits++; }); ${init} }
export function v() { return ${v}; }
export function setBad() { marks.update((d) => { d.bad = true; }); }
`;

interface Member {
  host: Host;
  node: FleetNode;
  side: FleetPatchNode;
  patcher: FleetPatcher;
  project: TempProject;
}

describe.skipIf(!redisOrSkip())('fleet patch coordinator', () => {
  let redis: TestRedis;
  let members: Member[] = [];
  const extra: FleetNode[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => redis?.stop());
  afterEach(async () => {
    for (const n of extra.splice(0)) await n.leave();
    for (const m of members) {
      await m.side.synced();
      await m.node.leave();
      await m.host.stop();
      m.project.cleanup();
    }
    members = [];
    await redis.restart();
  });

  async function member(files: Record<string, string>): Promise<Member> {
    const project = new TempProject({ 'state/marks.ts': MARKS, ...files });
    const host = await Host.open({ root: project.root });
    const node = new FleetNode({ url: redis.url, gameUrl: 'ws://127.0.0.1:1', load: () => ({ players: 0, rooms: 0 }), code: () => Object.fromEntries([...host.bindings.live.values()].map((v) => [v.module, { version: v.version, hash: v.hash }])) });
    const side = new FleetPatchNode(node, host);
    const m = { host, node, side, patcher: new FleetPatcher(side), project };
    members.push(m);
    await waitFor(() => side.syncedAt !== undefined, 10_000, 'the node to load the fleet code');
    return m;
  }

  async function three(): Promise<Member[]> {
    const out: Member[] = [];
    for (let i = 0; i < 3; i++) out.push(await member({ 'logic/m.ts': mod(1) }));
    await waitFor(async () => (await out[0]!.node.liveNodes()).length === 3, 10_000, 'three nodes');
    return out;
  }

  const v = (m: Member) => m.host.call('m.v');
  const inits = (m: Member) => (m.host.registry.get('marks') as unknown as { get(): { inits: number } }).get().inits;

  it('commits on every node, with the same version number, and the fleet manifest in Redis moves with it', async () => {
    const [a, b, c] = await three();
    const initsBefore = [a!, b!, c!].map(inits);
    a!.project.write('logic/m.ts', mod(2));
    const r = await a!.patcher.patch({ modules: ['m'] }, { origin: 'cli' });
    expect(r).toMatchObject({ ok: true, fleet: { decision: 'commit' }, modules: [{ module: 'm', newVersion: 2 }] });
    expect(r.fleet.nodes.map((n) => n.outcome?.ok)).toEqual([true, true, true]);
    for (const [i, m] of [a!, b!, c!].entries()) {
      expect(v(m)).toBe(2);
      expect(m.host.status().modules[0]).toMatchObject({ version: 2 });
      // init ran once more, at the commit: the trial's run left nothing.
      expect(inits(m)).toBe(initsBefore[i]! + 1);
    }
    const manifest = await a!.side.code.manifest();
    expect(manifest!.modules.m).toMatchObject({ version: 2, hash: a!.host.bindings.live.get('m')!.hash, previous: [{ hash: expect.any(String) }] });
    // b and c never read their own disk for it: their files still say v1.
    expect(readFileSync(b!.project.path('logic/m.ts'), 'utf8')).toContain('return 1;');
  }, 60_000);

  it('a refusal on one node aborts everywhere and names the node, with the code frame', async () => {
    const [a, b, c] = await three();
    c!.host.call('m.setBad');
    b!.project.write('logic/m.ts', mod(2, `if (marks.get().bad) throw new Error('bad data here');`));
    const r = await b!.patcher.patch({ modules: ['m'] }, { origin: 'cli' });
    expect(r.ok).toBe(false);
    expect(r.fleet.decision).toBe('abort');
    expect(r.error).toMatchObject({ code: 'PATCH_INIT_ERROR', node: c!.node.id });
    expect(r.error!.frame).toContain('bad data here');
    for (const m of [a!, b!, c!]) expect(v(m)).toBe(1);
    expect((await a!.side.code.manifest())!.modules.m!.version).toBe(1);
  }, 60_000);

  it('a node that does not answer in time aborts the patch; the nodes that prepared do not change', async () => {
    const [a, b] = await three();
    const silent = new FleetNode({ url: redis.url, gameUrl: 'ws://127.0.0.1:1', load: () => ({ players: 0, rooms: 0 }), code: () => ({}) });
    extra.push(silent);
    silent.on(PREPARE_KIND, () => new Promise(() => undefined));
    await waitFor(async () => (await a!.node.liveNodes()).length === 4, 10_000, 'the silent node');
    a!.project.write('logic/m.ts', mod(2));
    const started = Date.now();
    const r = await a!.patcher.patch({ modules: ['m'] }, { origin: 'cli', prepareMs: 800 });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r).toMatchObject({ ok: false, fleet: { decision: 'abort' }, error: { code: 'FLEET_TIMEOUT', node: silent.id } });
    expect(r.error!.message).toContain('did not answer');
    for (const m of members) expect(v(m)).toBe(1);
    // The next patch waits for nobody: the silent node is gone.
    await silent.leave();
    extra.length = 0;
    await waitFor(async () => (await a!.node.liveNodes()).length === 3, 10_000, 'the silent node gone');
    b!.project.write('logic/m.ts', mod(2));
    expect((await b!.patcher.patch({ modules: ['m'] }, { origin: 'cli' })).ok).toBe(true);
    for (const m of members) expect(v(m)).toBe(2);
  }, 60_000);

  it('a prepared node whose coordinator went silent learns the decision from Redis, or writes abort itself', async () => {
    const [a, b] = await three();
    a!.project.write('logic/m.ts', mod(2));
    const planned = await a!.host.engine.plan({ modules: ['m'] });
    const base = (await a!.side.code.manifest())!;
    const shipped = (id: string): ShippedPatch => ({ id, kind: 'patch', origin: 'cli', builds: planned.plans.map((p) => shipPlan(a!.host.paths, p)), versions: { m: 2 }, removals: [] });
    // The coordinator wrote "commit" (with the manifest) and died before telling b.
    expect((await b!.side.prepare({ shipped: shipped('x1'), holdMs: 100, abortAfterMs: 60_000 }, a!.node.id)).ok).toBe(true);
    expect(await a!.side.code.decide('x1', 'commit', nextManifest(base, shipped('x1')))).toBe('commit');
    await waitFor(() => v(b!) === 2, 5000, 'b to commit from the record');
    // Nobody decided: past its deadline the node writes "abort", and a late "commit" loses.
    a!.project.write('logic/m.ts', mod(3));
    const again = await a!.host.engine.plan({ modules: ['m'] });
    const s2 = { ...shipped('x2'), builds: again.plans.map((p) => shipPlan(a!.host.paths, p)), versions: { m: 3 } };
    expect((await b!.side.prepare({ shipped: s2, holdMs: 100, abortAfterMs: 300 }, a!.node.id)).ok).toBe(true);
    await waitFor(async () => (await b!.side.code.decision('x2')) === 'abort', 5000, 'b to write abort');
    expect(await a!.side.code.decide('x2', 'commit')).toBe('abort');
    await waitFor(() => b!.host.history().at(-1)?.error?.code === 'FLEET_ABORTED', 5000, 'b to abort');
    expect(v(b!)).toBe(2);
  }, 60_000);

  it('rolls the whole fleet back to the previous build in the fleet manifest', async () => {
    const [a, b, c] = await three();
    a!.project.write('logic/m.ts', mod(2));
    expect((await a!.patcher.patch({ modules: ['m'] }, { origin: 'cli' })).ok).toBe(true);
    const r = await c!.patcher.rollback('m', { origin: 'cli' });
    expect(r).toMatchObject({ ok: true, kind: 'rollback', fleet: { decision: 'commit' } });
    for (const m of [a!, b!, c!]) expect(v(m)).toBe(1);
    const manifest = (await a!.side.code.manifest())!;
    expect(manifest.modules.m).toMatchObject({ version: 3, previous: [] });
    // The build the rollback left is no longer kept in Redis; the live one is.
    await waitFor(async () => (await a!.node.redis.run((r) => r.keys('rebind:code:build:*'))).length === 1, 5000, 'the left build removed from Redis');
    expect(await a!.node.redis.run((r) => r.keys('rebind:code:build:*'))).toEqual([`rebind:code:build:m:${manifest.modules.m!.hash}`]);
  }, 60_000);

  it('a node that joins with other code on its disk loads the fleet manifest from Redis', async () => {
    const [a] = await three();
    a!.project.write('logic/m.ts', mod(2));
    expect((await a!.patcher.patch({ modules: ['m'] }, { origin: 'cli' })).ok).toBe(true);
    const late = await member({ 'logic/m.ts': mod(9), 'logic/other.ts': 'export function o() { return 1; }\n' });
    await waitFor(() => late.host.bindings.live.has('m') && v(late) === 2 && !late.host.bindings.live.has('other'), 10_000, 'the late node to run the fleet code');
    expect(late.host.status().modules.map((m) => [m.name, m.version])).toEqual([['m', 2]]);
  }, 60_000);

  it('Redis restarted (empty) while the nodes prepare: no node commits, none stays prepared, and the next patch lands everywhere', async () => {
    const [a] = await three();
    a!.project.write('logic/m.ts', mod(2, 'const end = Date.now() + 600; while (Date.now() < end) {}'));
    const patching = a!.patcher.patch({ modules: ['m'] }, { origin: 'cli', prepareMs: 1000 }).then(
      (r) => r,
      (err: { code?: string }) => err,
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    await redis.restart();
    const r = (await patching) as { ok?: boolean; code?: string };
    expect(r.ok === false || r.code === 'FLEET_UNAVAILABLE', JSON.stringify(r)).toBe(true);
    for (const m of members) {
      await waitFor(() => m.host.history().some((h) => h.error?.code === 'FLEET_ABORTED' || (h.kind === 'patch' && !h.ok)), 20_000, 'every node to leave the prepared state');
      expect(v(m)).toBe(1);
    }
    // Redis came back empty: the nodes wrote the fleet's manifest again; the fleet patches as before.
    await waitFor(async () => (await a!.side.code.manifest()) !== undefined && (await a!.node.liveNodes()).length === 3, 15_000, 'the fleet to re-form');
    for (const m of members) await m.side.synced();
    a!.project.write('logic/m.ts', mod(3));
    const next = await a!.patcher.patch({ modules: ['m'] }, { origin: 'cli' });
    expect(next, JSON.stringify(next)).toMatchObject({ ok: true, fleet: { decision: 'commit' } });
    for (const m of members) expect(v(m)).toBe(3);
  }, 90_000);

  it('one fleet patch at a time: a second one while the first prepares is refused with FLEET_BUSY', async () => {
    const [a, b] = await three();
    a!.project.write('logic/m.ts', mod(2, 'const end = Date.now() + 400; while (Date.now() < end) {}'));
    const first = a!.patcher.patch({ modules: ['m'] }, { origin: 'cli' });
    await waitFor(async () => (await a!.side.code.lockHolder()) !== null, 5000, 'the first patch to lock');
    await expect(b!.patcher.patch({ modules: ['m'] }, { origin: 'cli' })).rejects.toMatchObject({ code: 'FLEET_BUSY' });
    expect((await first).ok).toBe(true);
  }, 60_000);
});

describe.skipIf(!redisOrSkip())('fleet verification and canary', () => {
  let redis: TestRedis;
  const members: Member[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const m of members) {
      await m.side.synced();
      await m.node.leave();
      await m.host.stop();
      m.project.cleanup();
    }
    await redis?.stop();
  });

  const handler = (v: number, body = '') => `
import { marks } from '../state/marks';
export function init() { marks.update((d) => { d.inits++; }); }
export function v() { return ${v}; }
export function setBad() { marks.update((d) => { d.bad = true; }); }
export function h() { ${body} return ${v}; }
`;

  async function fleetOf(): Promise<Member[]> {
    for (let i = 0; i < 3; i++) {
      const project = new TempProject({ 'state/marks.ts': MARKS, 'logic/m.ts': handler(1) });
      const host = await Host.open({ root: project.root });
      const node = new FleetNode({ url: redis.url, gameUrl: 'ws://127.0.0.1:1', load: () => ({ players: 0, rooms: 0 }), code: () => ({}) });
      const side = new FleetPatchNode(node, host);
      members.push({ host, node, side, patcher: new FleetPatcher(side), project });
      await waitFor(() => side.syncedAt !== undefined, 10_000, 'the node to load the fleet code');
    }
    await waitFor(async () => (await members[0]!.node.liveNodes()).length === 3, 10_000, 'three nodes');
    return members;
  }

  const calls = (m: Member, n: number, player: string | null = null) => {
    let errors = 0;
    for (let i = 0; i < n; i++) {
      try {
        m.host.call('m.h', null, { player });
      } catch {
        errors++;
      }
    }
    return errors;
  };

  it('--verify: one node over budget rolls every node back; within budget, every node records the confirm; a canary is promoted everywhere', async () => {
    const [a, b, c] = await fleetOf();
    // Over budget on c only: its data makes the new handler throw.
    c!.host.call('m.setBad');
    a!.project.write('logic/m.ts', handler(2, `if (marks.get().bad) throw new Error('bad here');`));
    const patched = a!.patcher.patch({ modules: ['m'], verify: { windowMs: 4000 } }, { origin: 'cli' });
    const r = await patched;
    expect(r).toMatchObject({ ok: true, fleet: { decision: 'commit' } });
    const verdict = a!.patcher.verifier.verify(r, 4000, false);
    await waitFor(() => [a!, b!, c!].every((m) => m.host.call('m.v') === 2), 5000, 'v2 everywhere');
    expect(calls(c!, 30)).toBe(30);
    const report = await verdict;
    expect(report, JSON.stringify(report)).toMatchObject({ outcome: 'rolled-back' });
    expect(report.reason).toContain(`node ${c!.node.id}`);
    expect(report.elapsedMs).toBeLessThan(4000);
    for (const m of [a!, b!, c!]) {
      expect(m.host.call('m.v')).toBe(1);
      const [patch, rollback] = m.host.history().slice(-2);
      expect(rollback).toMatchObject({ kind: 'auto-rollback', ok: true, origin: 'verify', verify: { outcome: 'rolled-back', patch: patch!.id } });
    }

    // Within budget: confirmed on every node.
    a!.project.write('logic/m.ts', handler(3));
    // A window sees at least 10 calls of the new code on a node before it can confirm anything (patch/verify.ts): made on each.
    const fine = await a!.patcher.patch({ modules: ['m'], verify: { windowMs: 1000 } }, { origin: 'cli' });
    const fineVerdict = a!.patcher.verifier.verify(fine, 1000, false);
    for (const m of [a!, b!, c!]) await waitFor(() => m.host.call('m.v') === 3, 5000, 'v3 everywhere');
    for (const m of [a!, b!, c!]) expect(calls(m, 30)).toBe(0);
    expect(await fineVerdict).toMatchObject({ outcome: 'confirmed' });
    for (const m of [a!, b!, c!]) {
      await waitFor(() => m.host.history().at(-1)?.kind === 'confirm', 5000, 'a confirm record on every node');
      expect(m.host.call('m.v')).toBe(3);
    }

    // A canary: the same players on the new side on every node, then promoted everywhere.
    a!.project.write('logic/m.ts', handler(4));
    const canary = await a!.patcher.patch({ modules: ['m'], verify: { windowMs: 1000 }, canary: 0.5 }, { origin: 'cli' });
    expect(canary).toMatchObject({ ok: true, canary: 0.5 });
    const sides = (m: Member) => Array.from({ length: 40 }, (_, i) => m.host.call('m.h', null, { player: `p-${i}` }));
    const seen = sides(a!);
    expect(new Set(seen)).toEqual(new Set([3, 4]));
    expect(sides(b!)).toEqual(seen);
    expect(sides(c!)).toEqual(seen);
    expect(await a!.patcher.verifier.verify(canary, 1000, true)).toMatchObject({ outcome: 'confirmed' });
    for (const m of [a!, b!, c!]) await waitFor(() => m.host.call('m.v') === 4 && !m.host.bindings.canary, 5000, 'the canary promoted on every node');
    expect((await a!.side.code.manifest())!.modules.m!.hash).toBe(a!.host.bindings.live.get('m')!.hash);
  }, 90_000);
});
