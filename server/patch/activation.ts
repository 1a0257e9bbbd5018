import { types } from 'node:util';
import path from 'node:path';
import { isRebindError, rebindError, RebindError, type SourceLocation } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { StoreRegistry } from '../store/registry.ts';
import { inPatchAttempt, setDroppedWriteListener, transact, type PatchAttempt } from '../store/transaction.ts';
import { exportLocation, readExports, type BindingTable, type ModuleVersion } from './bindings.ts';
import { relativeToRoot, type Artifact, type ProjectPaths } from './build.ts';
import type { Dispatcher } from './dispatch.ts';
import { evaluateBundle, TrackedTimers } from './evaluate.ts';
import { fingerprint, restoreIntrinsics, type Fingerprint } from './intrinsics.ts';
import { runMigrations } from './migrate.ts';
import { codeUrl, locateError, mapStack, mapThrown, registerSourceMap, unregisterSourceMap } from './sourcemaps.ts';
import { TimeLimitExceeded, withTimeLimit } from './time-limit.ts';
import { ErrorThrottle, leftOutNote } from './error-throttle.ts';
import { thrownMessage } from '../thrown.ts';

// The all-or-nothing part of a patch. Every new version's top level, the
// migrations and every init run inside ONE store transaction, so whatever any
// of them writes is thrown away if any of them fails (a top-level write
// followed by an init that throws leaves nothing). Top level and init each
// run under a time limit. Logic may not define stores (it runs inside a
// transaction, where defineStore is refused). Only when all of
// it succeeded are the names swapped, in the same synchronous step.

export interface Plan {
  module: string;
  file: string;
  artifact: Artifact;
  inputs: Map<string, string>;
  /** The state/ folder the build was made against, when that was another process's folder (a fleet ships builds): its imports of state/ resolve to this host's files. */
  builtAgainst?: string;
}

export interface Activated {
  fresh: ModuleVersion[];
  replaced: ModuleVersion[];
  migrated: string[];
}

export interface ActivateOptions {
  /** Initialised and ready, but not bound (a canary: the engine binds them for a share of the players). */
  staged?: boolean;
  /**
   * Evaluate, check, migrate and init exactly as a patch would, then throw all of it away (a fleet node's prepare):
   * it succeeds or throws as the real activation would on the same data, and changes nothing either way.
   */
  trial?: boolean;
}

/** Thrown at the end of a trial activation to discard its transaction; never seen outside activate(). */
class TrialDone extends Error {}

/** A coded error that names the module it came from (start uses it to load the others). */
export function withModule(err: unknown, module: string): unknown {
  if (!isRebindError(err) || typeof err.details?.module === 'string') return err;
  return new RebindError(err.code, err.message, { ...(err.location ? { location: err.location } : {}), details: { ...err.details, module }, cause: err.cause });
}

/** Migrations may run this many times longer than a top level or an init. */
const MIGRATION_LIMIT_FACTOR = 10;

function isAsync(fn: unknown): boolean {
  const name = (fn as { constructor?: { name?: string } }).constructor?.name;
  return name === 'AsyncFunction' || name === 'AsyncGeneratorFunction';
}

setDroppedWriteListener((attempt) =>
  createLogger('patch').warn(`dropped a store write queued by the refused patch of ${attempt.label} (a promise callback, microtask or immediate started by its top level or init ran after the refusal)`),
);

/**
 * Refuses the patch (LOGIC_FORBIDDEN) if logic changed a built-in
 * (`Array.prototype.push = …`) since `before` was taken, putting the
 * built-ins back first; see intrinsics.ts. Called in a `finally`, so that a
 * run that threw has its changes undone too. (Not a wrapper taking a closure:
 * a closure over the plan would keep each version's code alive as long as its
 * raw timers' grace.)
 */
function refuseChangedBuiltins(before: Fingerprint, rel: string, what: string, module: string, locate: () => SourceLocation | undefined = () => undefined): void {
  const changed = restoreIntrinsics(before);
  if (changed.length === 0) return;
  const location = locate();
  const where = location ? `${location.file}:${location.line}:${location.column}` : rel;
  throw rebindError('LOGIC_FORBIDDEN', `${where}: ${what} changed built-ins the host shares with every module: ${changed.join(', ')} (put back; logic must not replace built-ins or their prototypes)`, {
    ...(location ? { location } : {}),
    details: { module, builtins: changed },
  });
}

export class Activator {
  private readonly log = createLogger('patch');

  constructor(
    private readonly paths: ProjectPaths,
    private readonly registry: StoreRegistry,
    private readonly bindings: BindingTable,
    private readonly dispatcher: Dispatcher,
    /** How long a module's top level, init or dispose may run. */
    readonly timeLimitMs: number,
  ) {}

  /**
   * Evaluates, migrates, inits and swaps; on any failure throws, having
   * changed nothing (and having given back every source map and timer).
   * `versionOf` numbers the new versions; they are used only if this succeeds.
   */
  activate(plans: readonly Plan[], removals: readonly string[], versionOf: (module: string) => number, options: ActivateOptions = {}): Activated {
    const fresh: ModuleVersion[] = [];
    let migrated: string[] = [];
    // What the new code queues (promise callbacks, microtasks, immediates)
    // runs after this decision; if the patch is refused, their writes are dropped.
    const attempt: PatchAttempt = { label: plans.map((p) => `${p.module} v${versionOf(p.module)}`).join(', ') || 'removal', refused: false };
    // One fingerprint serves every step: a step that changed nothing leaves the built-ins as they were, and one that did is refused.
    const builtins = fingerprint();
    try {
      const replaced = inPatchAttempt(attempt, () => transact(() => {
        for (const plan of plans) fresh.push(this.evaluate(plan, versionOf(plan.module), builtins));
        this.bindings.withIncoming(fresh, removals, () => {
          migrated = this.migrate(fresh, builtins);
          // A canary's versions share the stores with the live ones: a migration would change the data under the old code.
          if (options.staged && migrated.length > 0) throw rebindError('CANARY_REFUSED', `a canary cannot carry migrations (${migrated.join(', ')}): both versions serve the same stores; patch without --canary`);
          for (const version of fresh) this.runInit(version, builtins);
        });
        // A trial (a fleet's prepare) has done everything that can fail: throwing now discards every write it made.
        if (options.trial) throw new TrialDone();
        // Staged (a canary): initialised and ready, but not bound; the engine binds them for a share of the players.
        return options.staged ? [] : this.bindings.swap(fresh, removals);
      }));
      return { fresh, replaced, migrated };
    } catch (err) {
      attempt.refused = true;
      if (err instanceof TrialDone) {
        // The trial's versions never serve: what their init started is stopped, their writes (even late ones) dropped.
        for (const version of fresh) {
          version.timers.clearAll();
          unregisterSourceMap(version.url);
        }
        return { fresh: [], replaced: [], migrated };
      }
      for (const version of fresh) {
        version.timers.clearAll();
        unregisterSourceMap(version.url);
      }
      throw err;
    }
  }

  private evaluate(plan: Plan, version: number, before: Fingerprint): ModuleVersion {
    const url = codeUrl('logic', plan.module, version);
    const rel = relativeToRoot(this.paths.root, plan.file);
    registerSourceMap(url, plan.artifact.map, plan.artifact.outfile, this.paths.root);
    // A timer that throws every millisecond must not flood the log: one line per place it throws per 5 s (error-throttle.ts).
    const throttle = new ErrorThrottle();
    const timers = new TrackedTimers(
      (err) => {
        const at = locateError(err);
        const admitted = throttle.admit(at ? `${at.file}:${at.line}:${at.column}` : thrownMessage(err));
        const more = leftOutNote(admitted.leftOut);
        if (admitted.log) this.log.error(`a timer or event listener of ${rel} v${version} threw${more}: ${mapThrown(err)}`);
      },
      (kind) => this.log.warn(`${rel} v${version} was replaced; its ${kind} was refused (use ctx.schedule for timers that should outlive a patch)`),
    );
    try {
      const hostRequire = this.registry.hostRequire(this.paths, (file) => {
        throw rebindError('PATCH_STATE_IMPORT', `${rel} imports ${relativeToRoot(this.paths.root, file)}, which was not loaded at start: stores are created once, restart the server to add one`);
      });
      const foreign = plan.builtAgainst && path.resolve(plan.builtAgainst) !== path.resolve(this.paths.stateDir) ? path.resolve(plan.builtAgainst) + path.sep : undefined;
      const require = foreign ? (specifier: string) => hostRequire(specifier.startsWith(foreign) ? path.join(this.paths.stateDir, specifier.slice(foreign.length)) : specifier) : hostRequire;
      let exports: Record<string, unknown>;
      try {
        exports = evaluateBundle(plan.artifact.code, url, rel, require, timers, this.timeLimitMs);
      } finally {
        refuseChangedBuiltins(before, rel, 'its top level', plan.module);
      }
      const base = { module: plan.module, version, hash: plan.artifact.hash, file: plan.file, url, artifact: plan.artifact, timers, activatedAt: Date.now() };
      return readExports(exports, base, rel);
    } catch (err) {
      timers.clearAll();
      unregisterSourceMap(url);
      throw withModule(err, plan.module);
    }
  }

  /**
   * Runs the migrations under a time limit too, a longer one (they may have a
   * lot of data to move): an endless loop in one must not hang the server.
   */
  private migrate(fresh: readonly ModuleVersion[], before: Fingerprint): string[] {
    if (!fresh.some((version) => version.migrations)) return [];
    const limit = this.timeLimitMs * MIGRATION_LIMIT_FACTOR;
    try {
      try {
        return withTimeLimit(limit, () => runMigrations(fresh, this.registry));
      } finally {
        refuseChangedBuiltins(before, 'the migrations', 'they', fresh.find((v) => v.migrations)?.module ?? '');
      }
    } catch (err) {
      if (!(err instanceof TimeLimitExceeded)) throw err;
      const culprit = fresh.find((v) => v.migrations) ?? fresh[0]!;
      const rel = relativeToRoot(this.paths.root, culprit.file);
      const location = exportLocation(culprit.file, rel, 'migrations');
      throw rebindError('PATCH_TIME_LIMIT', `${location ? `${location.file}:${location.line}:${location.column}` : rel}: the migrations ${err.message} (an endless loop?)`, {
        ...(location ? { location } : {}),
        details: { module: culprit.module, limitMs: limit },
      });
    }
  }

  private runInit(version: ModuleVersion, before: Fingerprint): void {
    if (!version.init) return; // no watchdog thread for a hook that is not there
    if (isAsync(version.init)) {
      // Refused before it runs: an async init's awaits run after the time limit has let go.
      throw this.hookError('PATCH_INIT_ERROR', version, 'init', new Error('init must be synchronous, not async (start async work with ctx.schedule)'));
    }
    let result: unknown;
    try {
      try {
        result = withTimeLimit(this.timeLimitMs, () => this.dispatcher.lifecycle(version, 'init'));
      } finally {
        const rel = relativeToRoot(this.paths.root, version.file);
        refuseChangedBuiltins(before, rel, `init of ${version.module}`, version.module, () => exportLocation(version.file, rel, 'init'));
      }
    } catch (err) {
      throw this.hookError('PATCH_INIT_ERROR', version, 'init', err);
    }
    if (types.isPromise(result)) {
      result.catch(() => undefined);
      throw this.hookError('PATCH_INIT_ERROR', version, 'init', new Error('init must be synchronous (start async work with ctx.schedule)'));
    }
  }

  /** Runs dispose of a replaced version; it may not stop the host either, and its failure is only logged. */
  dispose(old: ModuleVersion): void {
    if (!old.dispose) return;
    const failed = (err: unknown) => {
      const failure = this.hookError('PATCH_INIT_ERROR', old, 'dispose', err);
      this.log.error(`dispose of ${old.module} v${old.version} failed: ${failure.message}${typeof failure.details?.stack === 'string' ? `\n${failure.details.stack}` : ''}`);
    };
    try {
      const result = transact(() => withTimeLimit(this.timeLimitMs, () => this.dispatcher.lifecycle(old, 'dispose')));
      // An async dispose that rejects is counted by the dispatcher and logged here, never left unhandled.
      if (types.isPromise(result)) result.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private hookError(code: string, version: ModuleVersion, hook: 'init' | 'dispose', err: unknown): RebindError {
    if (isRebindError(err) && (err.code.startsWith('PATCH_') || err.details?.builtins)) return withModule(err, version.module) as RebindError;
    const rel = relativeToRoot(this.paths.root, version.file);
    if (err instanceof TimeLimitExceeded) {
      // Code stopped by the watchdog leaves no stack: point at the hook itself.
      const location = exportLocation(version.file, rel, hook);
      return rebindError('PATCH_TIME_LIMIT', `${location ? `${location.file}:${location.line}:${location.column}` : rel}: ${hook} of ${version.module} ${err.message} (an endless loop?)`, {
        ...(location ? { location } : {}),
        details: { module: version.module, hook, limitMs: err.limitMs },
      });
    }
    // Where it threw in the logic, or else where the hook is declared.
    const location: SourceLocation | undefined = locateError(err) ?? exportLocation(version.file, rel, hook);
    const where = location ? `${location.file}:${location.line}:${location.column}` : rel;
    const message = err instanceof Error ? err.message : String(err);
    return rebindError(isRebindError(err) && err.code === 'STORE_OUTSIDE_STATE' ? err.code : code, `${where}: ${hook} of ${version.module} threw: ${message}`, {
      ...(location ? { location } : {}),
      details: { module: version.module, stack: err instanceof Error && err.stack ? mapStack(err.stack) : message },
    });
  }
}
