import { rebindError } from '../errors.ts';
import type { HostLogger } from '../log.ts';
import { withModule, type Plan } from './activation.ts';
import type { BindingTable } from './bindings.ts';
import type { Builder, ProjectPaths } from './build.ts';
import { refuseDuringCanary } from './canary.ts';
import { hashInputs, selectTargets } from './changes.ts';
import type { PatchRequest } from './engine.ts';
import type { LeftOut, ModuleChange } from './history.ts';
import { discoverModules, MODULE_NAME } from './modules.ts';

// The first step of a patch: which modules it touches and their new builds,
// without evaluating anything. A patch of one process activates the plans at
// once; a fleet ships them to every node.

export interface PlannedPatch {
  plans: Plan[];
  removals: string[];
  /** Modules rebuilt to the very bytes that are live (nothing to do). */
  unchanged: ModuleChange[];
}

export interface PlanContext {
  paths: ProjectPaths;
  builder: Builder;
  bindings: BindingTable;
  log: HostLogger;
  /** The sources (and their hashes) the live build of `module` was made from. */
  inputsOf(module: string): Map<string, string> | undefined;
  /** A rebuild that came out identical: the sources it was read from are now these. */
  sameBuild(module: string, inputs: Map<string, string>): void;
  /** Modules on disk left out of the patch (a name the live code cannot hold), for the record: `rebind patch` says so rather than "nothing to do". */
  leftOut?: LeftOut[];
}

/** Builds what `request` asks for; throws (a coded error naming the module) on a refusal or a compile error. */
export async function planPatch(request: PatchRequest, ctx: PlanContext): Promise<PlannedPatch> {
  const onDisk = discoverModules(ctx.paths.logicDir);
  const live = ctx.bindings.live;
  let { targets, removals } = selectTargets(request, onDisk, live, ctx.paths, (name) => ctx.inputsOf(name));
  refuseDuringCanary(ctx.bindings, [...targets, ...removals]);
  // Named in the request: refused. Found on disk (a start, a watch save, patch everything): left out loudly, so one badly named file does not stop every other patch.
  if (request.modules && request.modules.length > 0) refuseUnsavableNames(targets);
  else {
    targets = targets.filter((name) => {
      if (MODULE_NAME.test(name)) return true;
      ctx.log.error(`MODULE LEFT OUT: ${JSON.stringify(name)} (BAD_MODULE_NAME: ${unsavableName(name)}); it is not patched in`);
      ctx.leftOut?.push({ module: name, code: 'BAD_MODULE_NAME', message: unsavableName(name) });
      return false;
    });
  }
  const built = await Promise.all(
    targets.map(async (name) => {
      const file = onDisk.get(name)!;
      const before = ctx.inputsOf(name);
      const preRead = before ? hashInputs([...before.keys()]) : new Map<string, string>();
      const artifact = await ctx.builder.build(name, file).catch((err: unknown) => {
        throw withModule(err, name);
      });
      const inputs = new Map(preRead);
      for (const [f, h] of hashInputs(artifact.inputs.filter((f) => !preRead.has(f)))) inputs.set(f, h);
      for (const f of [...inputs.keys()]) if (!artifact.inputs.includes(f)) inputs.delete(f);
      return { module: name, file, artifact, inputs };
    }),
  );
  const plans: Plan[] = [];
  const unchanged: ModuleChange[] = [];
  for (const plan of built) {
    const current = live.get(plan.module);
    if (current && current.hash === plan.artifact.hash) {
      ctx.sameBuild(plan.module, plan.inputs);
      unchanged.push(unchangedModule(current));
    } else plans.push(plan);
  }
  return { plans, removals, unchanged };
}

export function unchangedModule(current: { module: string; version: number; hash: string }): ModuleChange {
  return { module: current.module, change: 'unchanged', oldVersion: current.version, newVersion: current.version, oldHash: current.hash, newHash: current.hash };
}

/**
 * A module is saved as live code under its name (data/code/builds/<name>/), so a name the live code cannot hold is
 * refused before it goes live: taken, it would make every later save fail and a restart undo the patches since.
 */
function refuseUnsavableNames(targets: readonly string[]): void {
  for (const name of targets) {
    if (MODULE_NAME.test(name)) continue;
    throw withModule(rebindError('BAD_MODULE_NAME', `the module name ${JSON.stringify(name)} cannot be used: ${unsavableName(name)}`), name);
  }
}

function unsavableName(name: string): string {
  return `a module's path under logic/ must be letters a-z, digits, _ and - (a letter or _ first), folders split by /, with no spaces, dots, quotes or other characters, or the live code cannot save it; rename logic/${name}.ts`;
}
