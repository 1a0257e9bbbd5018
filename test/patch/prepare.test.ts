import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Host } from '../../server/host.ts';
import type { Store } from '../../server/api.ts';
import type { ShippedPatch } from '../../server/patch/prepared.ts';
import { shipPlan } from '../../server/patch/shipped.ts';
import { COUNTER_STATE, TempProject, waitFor } from '../helpers/project.ts';

// The engine's two phases (prepare, then commit or abort), as a fleet drives them on each node.

const open: Array<{ host?: Host; project: TempProject }> = [];
afterEach(async () => {
  for (const { host, project } of open.splice(0)) {
    await host?.stop();
    project.cleanup();
  }
});

const mod = (v: number, init = `counter.update((d) => { d.log.push('init ${v}'); });`) => `
import type { Ctx } from '../server/api';
import { counter } from '../state/counter';
export function init(ctx: Ctx) { ${init} }
export function v() { return ${v}; }
`;

async function setup(withData = false): Promise<{ host: Host; project: TempProject; counter: Store<{ n: number; log: string[] }> }> {
  const project = new TempProject({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': mod(1) });
  const entry: { host?: Host; project: TempProject } = { project };
  open.push(entry);
  entry.host = await Host.create({ root: project.root });
  await entry.host.start(withData ? { dataDir: project.path('data') } : {});
  return { host: entry.host, project, counter: entry.host.registry.get('counter') as unknown as Store<{ n: number; log: string[] }> };
}

let ids = 0;
/** Builds logic/ as it is now on `host` and ships it as a fleet would, numbered `version`. */
async function ship(host: Host, version: number): Promise<ShippedPatch> {
  const planned = await host.engine.plan({ modules: ['m'] });
  return { id: `p${++ids}`, kind: 'patch', origin: 'cli', builds: planned.plans.map((p) => shipPlan(host.paths, p, true)), versions: { m: version }, removals: [] };
}

const never = { holdMs: 60_000, undecided: async () => undefined };

describe('prepare, then commit or abort', () => {
  it('tries init in a transaction that is thrown away, and runs it for real only at commit, with the shipped version number', async () => {
    const { host, project, counter } = await setup();
    project.write('logic/m.ts', mod(2));
    const shipped = await ship(host, 7);
    const answer = await host.engine.prepare(shipped, never);
    expect(answer).toMatchObject({ ok: true, changes: [{ module: 'm', change: 'updated', oldVersion: 1, newVersion: 7 }] });
    expect(counter.get().log).toEqual(['init 1']);
    expect(host.call('m.v')).toBe(1);
    const applied = new Promise((resolve) => host.engine.history.onRecord(resolve));
    expect(host.engine.decide(shipped.id, 'commit')).toBe(true);
    await applied;
    expect(host.call('m.v')).toBe(2);
    expect(counter.get().log).toEqual(['init 1', 'init 2']);
    expect(host.status().modules[0]).toMatchObject({ version: 7 });
  });

  it('answers a refusal with the error and its code frame, and changes nothing (not even the writes made before the throw)', async () => {
    const { host, project, counter } = await setup();
    project.write('logic/m.ts', mod(2, `counter.update((d) => { d.n = 99; }); if (counter.get().n === 99) throw new Error('only here');`));
    const answer = await host.engine.prepare(await ship(host, 2), never);
    expect(answer.ok).toBe(false);
    if (answer.ok) return;
    expect(answer.error).toMatchObject({ code: 'PATCH_INIT_ERROR', module: 'm', location: { file: 'logic/m.ts' } });
    expect(answer.error.message).toContain('only here');
    expect(answer.error.frame).toContain('only here');
    expect(counter.get()).toMatchObject({ n: 0, log: ['init 1'] });
    expect(host.call('m.v')).toBe(1);
  });

  it('an abort leaves the old code and data, and a patch that came meanwhile waited for the decision', async () => {
    const { host, project, counter } = await setup();
    project.write('logic/m.ts', mod(2));
    const shipped = await ship(host, 2);
    expect((await host.engine.prepare(shipped, never)).ok).toBe(true);
    project.write('logic/m.ts', mod(3));
    let later: unknown;
    const patch = host.patch(['m']).then((r) => (later = r));
    await new Promise((r) => setTimeout(r, 200));
    expect(later).toBeUndefined();
    host.engine.decide(shipped.id, 'abort');
    await patch;
    const records = host.history();
    expect(records.at(-2)).toMatchObject({ ok: false, error: { code: 'FLEET_ABORTED' } });
    expect(records.at(-1)).toMatchObject({ ok: true, modules: [{ module: 'm', newVersion: 2 }] });
    expect(host.call('m.v')).toBe(3);
    expect(counter.get().log).toEqual(['init 1', 'init 3']);
  });

  it('a prepared node that hears no decision asks for it, and one that can learn nothing aborts after a while', async () => {
    const { host, project } = await setup();
    project.write('logic/m.ts', mod(2));
    const asked: string[] = [];
    const first = await ship(host, 2);
    await host.engine.prepare(first, { holdMs: 50, undecided: async (id) => (asked.push(id), 'commit') });
    await waitFor(() => host.call('m.v') === 2);
    expect(asked).toEqual([first.id]);
    project.write('logic/m.ts', mod(3));
    const second = await ship(host, 3);
    await host.engine.prepare(second, { holdMs: 50, giveUpMs: 300, undecided: async () => undefined });
    await waitFor(() => host.history().at(-1)?.error?.code === 'FLEET_ABORTED');
    expect(host.call('m.v')).toBe(2);
  });

  it('a decision that came before the prepare finished is not waited for again', async () => {
    const { host, project } = await setup();
    project.write('logic/m.ts', mod(2));
    const shipped = await ship(host, 2);
    expect(host.engine.decide(shipped.id, 'abort')).toBe(false);
    await host.engine.prepare(shipped, never);
    await waitFor(() => host.history().at(-1)?.error?.code === 'FLEET_ABORTED');
  });

  it('refuses a shipped build whose bytes do not match its hash', async () => {
    const { host, project } = await setup();
    project.write('logic/m.ts', mod(2));
    const shipped = await ship(host, 2);
    shipped.builds[0]!.code += '\n;globalThis.x = 1;';
    const answer = await host.engine.prepare(shipped, never);
    expect(answer).toMatchObject({ ok: false, error: { code: 'LIVE_CODE_DAMAGED' } });
  });

  it("a commit's history line is written just after the answer (Redis holds the decision), and later lines keep their order", async () => {
    const { host, project } = await setup(true);
    const file = project.path('data/code/history.jsonl');
    const ids = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: number }).id) : []);
    project.write('logic/m.ts', mod(2));
    const shipped = await ship(host, 2);
    expect((await host.engine.prepare(shipped, never)).ok).toBe(true);
    const before = ids();
    const seen: number[][] = [];
    const applied = new Promise<number>((resolve) =>
      host.engine.history.onRecord((record) => {
        if (record.kind !== 'patch') return;
        seen.push(ids());
        // A record made right behind the commit's (an abort of another prepared patch, say) must not overtake its line.
        const next = host.engine.history.fail({ origin: 'cli', kind: 'rollback', started: 0 }, [], new Error('behind the commit'));
        resolve(next.id);
      }),
    );
    host.engine.decide(shipped.id, 'commit');
    const behind = await applied;
    expect(seen[0]).toEqual(before);
    await waitFor(() => ids().length === before.length + 2);
    expect(ids().slice(-2)).toEqual([behind - 1, behind]);
  });
});
