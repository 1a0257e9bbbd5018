import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { nextManifest } from '../../server/fleet/manifest.ts';
import { Host } from '../../server/host.ts';
import type { Manifest } from '../../server/patch/live-code.ts';
import type { ShippedPatch } from '../../server/patch/prepared.ts';
import { shipPlan } from '../../server/patch/shipped.ts';
import { TempProject } from '../helpers/project.ts';

// The fleet's manifest (nextManifest, computed by the coordinator before any
// node commits) must say exactly what each node's own data/code/manifest.json
// says once the node has carried out the same fleet patches and rollbacks:
// a model (nextManifest) against the real engine, over random sequences.

type Op = { kind: 'patch'; module: 'a' | 'b'; content: number } | { kind: 'rollback'; module: 'a' | 'b' };

const source = (n: number) => `export function v() { return ${n}; }\n`;
const comparable = (m: Manifest) => ({ lastVersion: m.lastVersion, modules: m.modules });

const open: Array<{ host: Host; project: TempProject }> = [];
afterEach(async () => {
  for (const { host, project } of open.splice(0)) {
    await host.stop();
    project.cleanup();
  }
});

let ids = 0;

async function apply(host: Host, project: TempProject, model: Manifest, op: Op): Promise<Manifest> {
  let shipped: ShippedPatch;
  if (op.kind === 'patch') {
    project.write(`logic/${op.module}.ts`, source(op.content));
    const planned = await host.engine.plan({ modules: [op.module] });
    if (planned.plans.length === 0) return model;
    const versions = { [op.module]: Math.max(model.lastVersion[op.module] ?? 0, host.engine.nextVersion(op.module) - 1) + 1 };
    shipped = { id: `m${++ids}`, kind: 'patch', origin: 'cli', builds: planned.plans.map((p) => shipPlan(host.paths, p)), versions, removals: [] };
  } else {
    const entry = model.modules[op.module]!;
    const previous = entry.previous.at(-1);
    if (!previous) return model;
    const kept = host.engine.builds.build(op.module, previous.hash)!;
    const plan = { module: op.module, file: host.paths.root + '/' + entry.file, artifact: kept.artifact, inputs: kept.inputs };
    const versions = { [op.module]: Math.max(model.lastVersion[op.module] ?? 0, host.engine.nextVersion(op.module) - 1) + 1 };
    shipped = { id: `m${++ids}`, kind: 'rollback', origin: 'cli', builds: [shipPlan(host.paths, plan)], versions, removals: [] };
  }
  const answer = await host.engine.prepare(shipped, { holdMs: 60_000, undecided: async () => undefined });
  expect(answer.ok).toBe(true);
  const done = new Promise((resolve) => host.engine.history.onRecord(resolve));
  host.engine.decide(shipped.id, 'commit');
  await done;
  return nextManifest(model, shipped);
}

describe('the fleet manifest', () => {
  it('says what every node saves in data/code/manifest.json after the same fleet patches and rollbacks', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('patch' as const), module: fc.constantFrom('a' as const, 'b' as const), content: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('rollback' as const), module: fc.constantFrom('a' as const, 'b' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        const project = new TempProject({ 'logic/a.ts': source(0), 'logic/b.ts': source(0) });
        const host = await Host.create({ root: project.root });
        open.push({ host, project });
        await host.start({ dataDir: project.path('data') });
        let model = host.engine.builds.manifest();
        for (const o of ops) {
          model = await apply(host, project, model, o);
          await new Promise((resolve) => setImmediate(resolve)); // the node's own copy follows the commit
          const saved = JSON.parse(readFileSync(project.path('data/code/manifest.json'), 'utf8')) as Manifest;
          expect(comparable(saved)).toEqual(comparable(model));
          expect(comparable(host.engine.builds.manifest())).toEqual(comparable(model));
          for (const m of ['a', 'b']) expect(host.bindings.live.get(m)!.hash).toBe(model.modules[m]!.hash);
        }
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});
