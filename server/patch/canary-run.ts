import type { Activator, Plan } from './activation.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import { changesBetween, checkCanary, type CanaryState } from './canary.ts';
import type { History, ModuleChange, PatchRecord, RecordMeta } from './history.ts';
import type { KeptBuilds } from './kept-builds.ts';
import { unregisterSourceMap } from './sourcemaps.ts';

// The life of one canary on this process (canary.ts says what a canary is):
// started beside the live versions, then ended (its versions disposed, the
// live ones never stopped) or promoted (one swap, as a patch would). The
// engine runs each step in its patch queue; this keeps the canary's state.

export interface CanaryParts {
  bindings: BindingTable;
  builds: KeptBuilds;
  history: History;
  activator: Activator;
  /** Disposes a version that no longer serves (its dispose hook, its timers). */
  dispose(version: ModuleVersion): void;
}

export class CanaryRun {
  /** The running canary's plans, share and window (its versions are in bindings.canary). */
  state: CanaryState | undefined;

  constructor(private readonly parts: CanaryParts) {}

  /** Initialises the new versions and binds them for the canary's share of players. */
  start(meta: RecordMeta, plans: Plan[], removals: string[], unchanged: ModuleChange[], windowMs: number | undefined, versionOf: (module: string) => number): PatchRecord {
    const { bindings, builds, history, activator } = this.parts;
    let fresh: ModuleVersion[];
    try {
      checkCanary(meta.canary!, plans, removals, bindings, windowMs);
      ({ fresh } = activator.activate(plans, [], versionOf, { staged: true }));
    } catch (err) {
      return history.fail(meta, unchanged, err);
    }
    // A canary's version number is used up even if it is rolled back.
    builds.continueVersions(Object.fromEntries(fresh.map((v) => [v.module, v.version])));
    const before = fresh.map((v) => bindings.live.get(v.module)!);
    bindings.startCanary(fresh, meta.canary!);
    this.state = { share: meta.canary!, plans, since: new Date().toISOString(), windowMs: windowMs! };
    return history.ok(meta, [...unchanged, ...changesBetween(before, new Map(fresh.map((v) => [v.module, v])))], []);
  }

  /** Over budget, unseen or rolled back: its versions serve nobody any more and are disposed; the live ones never stopped. */
  end(meta: RecordMeta): PatchRecord {
    const { bindings, history } = this.parts;
    const versions = bindings.endCanary();
    this.state = undefined;
    for (const version of versions) {
      this.parts.dispose(version);
      unregisterSourceMap(version.url);
    }
    return history.ok(meta, changesBetween(versions, bindings.live), []);
  }

  /** Within budget: one swap gives its versions to everyone, as a patch would. */
  promote(meta: RecordMeta): PatchRecord {
    const { bindings, builds, history } = this.parts;
    const versions = bindings.endCanary();
    const plans = this.state?.plans ?? [];
    this.state = undefined;
    const replaced = bindings.swap(versions, []);
    for (const version of versions) builds.keep(version, plans.find((p) => p.module === version.module)!, false);
    for (const old of replaced) this.parts.dispose(old);
    builds.save(versions);
    return history.ok(meta, changesBetween(replaced, bindings.live), []);
  }
}
