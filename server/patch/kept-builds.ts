import path from 'node:path';
import { rebindError } from '../errors.ts';
import type { HostLogger } from '../log.ts';
import type { Plan } from './activation.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import type { ProjectPaths } from './build.ts';
import { refuseDuringCanary } from './canary.ts';
import type { LiveCodeStore, Manifest } from './live-code.ts';
import { buildManifest, driftOf, type Drift, type Kept } from './live-manifest.ts';
import { unregisterSourceMap } from './sourcemaps.ts';

// The engine's memory of builds: the last few of each module (the live one on
// top) for rollback, the highest version number each module has had, and the
// durable copy of both in the data folder (live-code.ts).

export const KEEP_VERSIONS = 10;

export class KeptBuilds {
  private readonly kept = new Map<string, Kept[]>();
  /** The highest version number each module has had live (refused patches use none). */
  private readonly lastVersion = new Map<string, number>();
  store: LiveCodeStore | undefined;
  /** Why the live code could not be saved after the last patch, if it could not (shown by status). */
  saveError: string | undefined;
  savedAt: string | undefined;

  constructor(
    private readonly paths: ProjectPaths,
    private readonly bindings: BindingTable,
    private readonly log: HostLogger,
  ) {}

  /** The version the next build of `module` goes live as. */
  nextVersion(module: string): number {
    return (this.lastVersion.get(module) ?? 0) + 1;
  }

  /** Numbers new versions after these, so that "v4" never names two builds. */
  continueVersions(last: Record<string, number> | undefined): void {
    for (const [module, version] of Object.entries(last ?? {})) if (Number.isInteger(version)) this.lastVersion.set(module, Math.max(version, this.lastVersion.get(module) ?? 0));
  }

  inputsOf(module: string): Map<string, string> | undefined {
    return this.kept.get(module)?.at(-1)?.inputs;
  }

  /** A rebuild came out identical to the live build: its sources are now these. */
  sameBuild(module: string, inputs: Map<string, string>): void {
    const top = this.kept.get(module)?.at(-1);
    if (top) top.inputs = inputs;
  }

  /** The builds a restored manifest keeps for rollback, under the one about to be activated. */
  restoreStacks(stacks: ReadonlyMap<string, Kept[]>): void {
    for (const [module, stack] of stacks) this.kept.set(module, stack.slice(0, -1));
  }

  /** --from-disk: every saved build, the live one included, stays a rollback target under what the files load. */
  keepSaved(stacks: ReadonlyMap<string, Kept[]>): void {
    for (const [module, stack] of stacks) this.kept.set(module, stack);
  }

  /** Pushes a version that went live (a rollback first drops the version it leaves and the one it goes back to). */
  keep(version: ModuleVersion, plan: Plan, isRollback: boolean): void {
    this.lastVersion.set(version.module, Math.max(version.version, this.lastVersion.get(version.module) ?? 0));
    let stack = this.kept.get(version.module);
    if (!stack) this.kept.set(version.module, (stack = []));
    if (isRollback) {
      const dropped = stack.pop();
      if (dropped) unregisterSourceMap(dropped.url);
      const previous = stack.pop();
      if (previous) unregisterSourceMap(previous.url);
    }
    // The same build as the one kept on top (--from-disk over identical saved code): one entry, not a rollback to itself.
    if (!isRollback && stack.at(-1)?.artifact.hash === plan.artifact.hash) stack.pop();
    stack.push({ artifact: plan.artifact, inputs: plan.inputs, url: version.url, ...(plan.builtAgainst ? { builtAgainst: plan.builtAgainst } : {}) });
    while (stack.length > KEEP_VERSIONS) unregisterSourceMap(stack.shift()!.url);
  }

  /** Plans that re-activate the previous kept build of each module; throws if one has none. */
  rollbackPlans(targets: readonly string[]): Plan[] {
    refuseDuringCanary(this.bindings, targets);
    return targets.map((name) => {
      const stack = this.kept.get(name);
      if (!this.bindings.live.has(name) && !stack) throw rebindError('UNKNOWN_MODULE', `no module named "${name}"`);
      const previous = stack && stack.length >= 2 ? stack[stack.length - 2]! : undefined;
      if (!previous) throw rebindError('NO_ROLLBACK', `${name} has no previous version to roll back to`);
      return { module: name, file: this.bindings.live.get(name)?.file ?? path.join(this.paths.logicDir, name + '.ts'), artifact: previous.artifact, inputs: previous.inputs, ...(previous.builtAgainst ? { builtAgainst: previous.builtAgainst } : {}) };
    });
  }

  canRollback(module: string): boolean {
    return (this.kept.get(module)?.length ?? 0) >= 2;
  }

  drift(): Drift {
    return driftOf(this.paths, this.bindings.live, this.kept);
  }

  /** What is live now, as the data folder's manifest says it (a fleet keeps the same in Redis). */
  manifest(): Manifest {
    return buildManifest(this.paths, this.bindings.live, this.kept, this.lastVersion);
  }

  /** The build of `module` with content `hash`, if it is kept here. */
  build(module: string, hash: string): Kept | undefined {
    return this.kept.get(module)?.find((k) => k.artifact.hash === hash);
  }

  /**
   * Makes what is live now durable: the new builds, then the manifest. The
   * swap has happened; a failure here is logged and shown by status (the
   * next restart would bring back the code of the last manifest saved).
   */
  save(fresh: readonly ModuleVersion[]): void {
    const store = this.store;
    if (!store) return;
    try {
      for (const version of fresh) store.saveBuild(version.module, version.hash, version.artifact);
      const manifest = this.manifest();
      store.saveManifest(manifest);
      this.savedAt = manifest.savedAt;
      this.saveError = undefined;
    } catch (err) {
      this.saveError = (err as Error).message;
      this.log.error(`the live code could not be saved in ${store.dir} (${this.saveError}); a restart now would bring back the code saved before this patch`);
    }
  }
}
