import { readFileSync } from 'node:fs';
import path from 'node:path';
import { codeFrame, rebindError, type SourceLocation } from '../errors.ts';
import type { ModuleVersion } from './bindings.ts';
import type { ModuleChange } from './history.ts';
import { unchangedModule } from './plan-patch.ts';
import type { Plan } from './activation.ts';
import { hashText, relativeToRoot, type Artifact, type ProjectPaths } from './build.ts';
import { MODULE_NAME } from './modules.ts';

// A build as bytes that travel: from the data folder to a restarting node, or
// from the node that built a fleet patch to every other node. Whoever
// evaluates it gets exactly these bytes, never its own disk's, and checks them
// against their hash first.

export interface ShippedBuild {
  module: string;
  /** The module's file, relative to the project root. */
  file: string;
  hash: string;
  code: string;
  map: string;
  /** Source files (relative to the project root) and their content hashes when it was built. */
  inputs: Record<string, string>;
  /** The builder's state/ folder (absolute): the bundle imports state/ files by their path there. */
  stateDir: string;
  /** The text of the sources it was built from (relative path -> text), so that a node shows the code frame of what it evaluated, not of its own disk. */
  sources?: Record<string, string>;
}

/** The artifact and absolute inputs of a build read back as text (a saved build, a shipped one). */
export function artifactFromText(paths: ProjectPaths, module: string, hash: string, code: string, map: string, inputsRel: Record<string, string>): { artifact: Artifact; inputs: Map<string, string> } {
  const inputs = new Map(Object.entries(inputsRel).map(([rel, h]) => [path.resolve(paths.root, rel), h] as const));
  // The same outfile as a fresh build, so that the source map's relative paths resolve the same way.
  const outfile = path.join(paths.root, '.rebind', module + '.js');
  return { artifact: { code, map, hash, inputs: [...inputs.keys()], outfile, emptyInputs: [] }, inputs };
}

/** `withSources`: the text of each input as it is on disk now, when it still has the hash it was built from. */
export function shipPlan(paths: ProjectPaths, plan: Plan, withSources = false): ShippedBuild {
  const inputs: Record<string, string> = {};
  const sources: Record<string, string> = {};
  for (const [file, hash] of plan.inputs) {
    const rel = relativeToRoot(paths.root, file);
    inputs[rel] = hash;
    if (!withSources) continue;
    try {
      const text = readFileSync(file, 'utf8');
      if (hashText(text) === hash) sources[rel] = text;
    } catch {
      // Gone since the build: that node shows no code frame, rather than a wrong one.
    }
  }
  return { module: plan.module, file: relativeToRoot(paths.root, plan.file), hash: plan.artifact.hash, code: plan.artifact.code, map: plan.artifact.map, inputs, stateDir: plan.builtAgainst ?? paths.stateDir, ...(withSources ? { sources } : {}) };
}

/** The plan that activates a shipped build; refuses one whose name or bytes are not what it says (FLEET_BAD_BUILD). */
export function planOfShipped(paths: ProjectPaths, build: ShippedBuild): Plan {
  if (typeof build?.module !== 'string' || !MODULE_NAME.test(build.module)) throw rebindError('BAD_MODULE_NAME', `a shipped build has a bad module name: ${JSON.stringify(build?.module)}`);
  if (typeof build.code !== 'string' || typeof build.map !== 'string' || hashText(build.code) !== build.hash) {
    throw rebindError('LIVE_CODE_DAMAGED', `the shipped build of ${build.module} does not match its hash ${String(build.hash).slice(0, 8)} (damaged on the way)`, { details: { module: build.module } });
  }
  const file = typeof build.file === 'string' && !path.isAbsolute(build.file) && !build.file.split(/[\\/]/).includes('..') ? build.file : path.join('logic', build.module + '.ts');
  const builtAgainst = typeof build.stateDir === 'string' && path.isAbsolute(build.stateDir) && path.resolve(build.stateDir) !== path.resolve(paths.stateDir) ? { builtAgainst: build.stateDir } : {};
  return { module: build.module, file: path.resolve(paths.root, file), ...artifactFromText(paths, build.module, build.hash, build.code, build.map, build.inputs ?? {}), ...builtAgainst };
}

/** The plans of `builds` that differ from the live code, and the modules whose live build they already are. */
export function shippedPlans(paths: ProjectPaths, live: ReadonlyMap<string, ModuleVersion>, builds: readonly ShippedBuild[]): { plans: Plan[]; unchanged: ModuleChange[] } {
  const unchanged: ModuleChange[] = [];
  const plans = builds
    .map((build) => planOfShipped(paths, build))
    .filter((plan) => {
      const current = live.get(plan.module);
      if (current?.hash !== plan.artifact.hash) return true;
      unchanged.push(unchangedModule(current));
      return false;
    });
  return { plans, unchanged };
}

/** The change a plan makes to `current` (undefined: the module is added). */
export function changeTo(current: ModuleVersion | undefined, plan: Plan, version: number): ModuleChange {
  return { module: plan.module, change: current ? 'updated' : 'added', oldVersion: current?.version ?? null, newVersion: version, oldHash: current?.hash ?? null, newHash: plan.artifact.hash };
}

/** The code frame from the sources that came with the builds; none (rather than this disk's, which may differ) without them. */
export function shippedFrame(builds: readonly ShippedBuild[], location: SourceLocation): string | undefined {
  for (const build of builds) {
    const text = build.sources?.[location.file];
    if (text !== undefined) return codeFrame(location, text) || undefined;
  }
  return codeFrame(location, undefined) || undefined;
}
