import { readFileSync } from 'node:fs';
import path from 'node:path';
import { codeFrame, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { StoreRegistry } from '../store/registry.ts';
import { Activator, withModule, type Plan } from './activation.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import { Builder, relativeToRoot, type ProjectPaths } from './build.ts';
import type { Dispatcher } from './dispatch.ts';
import { DEFAULT_TIME_LIMIT_MS } from './evaluate.ts';
import { History, type LeftOut, type ModuleChange, type Origin, type PatchRecord, type RecordMeta } from './history.ts';
import type { HistoryFile } from './history-file.ts';
import type { LiveCodeStore, Manifest } from './live-code.ts';
import { buildManifest, driftOf, restorePlans, type Drift, type Kept } from './live-manifest.ts';
import { hashInputs, selectTargets } from './changes.ts';
import { discoverModules, MODULE_NAME } from './modules.ts';
import { unregisterSourceMap } from './sourcemaps.ts';
import { verifyPatch, type VerifyOptions, type VerifyReport } from './verify.ts';
import { changesBetween, checkCanary, refuseDuringCanary, type CanaryState } from './canary.ts';
import { hostSetTimeout, monoNow } from '../host-globals.ts';
import { metricsEnabled } from '../metrics/call-stats.ts';
import { verifyWindowProblem } from './verify-window.ts';

// A patch is a transaction: build, evaluate, check and init every new
// version first; on any failure nothing changes and the old code keeps
// serving. Otherwise every name is swapped in one synchronous step, and only
// then are the old versions disposed.

export interface PatchRequest {
  /** Module names to rebuild; default: every module whose sources changed. */
  modules?: string[];
  /** Changed files (absolute); every module that includes one is rebuilt. */
  files?: string[];
  origin?: Origin;
  by?: string;
  /** Watch the new versions for this window and roll back on our own if they go over budget (verify.ts). */
  verify?: VerifyOptions;
  /** Serve the new versions to this share of the players (0.1 = 10%) during the verification window (canary.ts). */
  canary?: number;
}

const KEEP_VERSIONS = 10;
/** How long a replaced version's pending timeouts may still fire, so calls in flight can finish. */
const TIMEOUT_GRACE_MS = 10_000;

export class PatchEngine {
  readonly history: History;
  private readonly builder: Builder;
  private readonly kept = new Map<string, Kept[]>();
  /** The highest version number each module has had live (refused patches use none). */
  private readonly lastVersion = new Map<string, number>();
  private readonly log = createLogger('patch');
  private readonly activator: Activator;
  private queue: Promise<unknown> = Promise.resolve();
  private liveCode: LiveCodeStore | undefined;
  /** Why the live code could not be saved after the last patch, if it could not (shown by status). */
  liveCodeError: string | undefined;
  liveCodeSavedAt: string | undefined;
  /** Verification of the patches that saves under --watch make (the server's --verify). */
  watchVerify: VerifyOptions | undefined;
  private readonly verifications = new Map<number, Promise<VerifyReport>>();
  /** The running canary's plans, share and window (its versions are in bindings.canary). */
  canaryState: CanaryState | undefined;

  constructor(
    readonly paths: ProjectPaths,
    registry: StoreRegistry,
    private readonly bindings: BindingTable,
    private readonly dispatcher: Dispatcher,
    timeLimitMs = DEFAULT_TIME_LIMIT_MS,
  ) {
    this.builder = new Builder(paths);
    this.activator = new Activator(paths, registry, bindings, dispatcher, timeLimitMs);
    this.history = new History((location) => {
      try {
        return codeFrame(location, readFileSync(path.resolve(paths.root, location.file), 'utf8'));
      } catch {
        return codeFrame(location, undefined) || undefined;
      }
    });
  }

  /** Builds and swaps; resolves to the record, also when the patch was rejected. */
  patch(request: PatchRequest = {}): Promise<PatchRecord> {
    return this.serialized(async () => {
      const verify = request.verify ?? (request.origin === 'watch' ? this.watchVerify : undefined);
      const record = await this.runPatch(request, verify);
      if (verify && record.ok && !record.noop) this.verifications.set(record.id, this.startVerification(record, verify, record.canary !== undefined));
      return record;
    });
  }

  /** The outcome of patch `id`'s verification, once its window is over or it was rolled back; undefined if it is not verified. */
  verification(id: number): Promise<VerifyReport> | undefined {
    return this.verifications.get(id);
  }

  private startVerification(record: PatchRecord, options: VerifyOptions, canary: boolean): Promise<VerifyReport> {
    const meta = (kind: 'auto-rollback' | 'confirm' | 'unverified' | 'superseded', report: VerifyReport) => ({ origin: 'verify' as const, by: 'verify', kind, started: monoNow(), verify: report });
    const done = verifyPatch(record, options, {
      callStats: this.dispatcher.callStats,
      hookStats: this.dispatcher.hookStats,
      // During a canary, the version under verification is the canary's.
      liveVersion: (module) => (this.bindings.canary?.versions.get(module) ?? this.bindings.live.get(module))?.version,
      rollBack: (modules, report) =>
        this.serialized(async () => {
          this.log.event('error', `auto-rollback of patch #${record.id} (${modules.join(', ')}): ${report.reason}`, { patch: record.id, modules, ...report.new, previous: report.previous });
          if (canary) return this.endCanary(meta('auto-rollback', report));
          try {
            // A patch queued before this rollback may have replaced the version: then rolling back would undo that one instead.
            const moved = report.modules.filter((m) => this.bindings.live.get(m.module)?.version !== m.newVersion);
            if (moved.length > 0) throw rebindError('NO_ROLLBACK', `${moved.map((m) => m.module).join(', ')} changed again before the auto-rollback could run; nothing was rolled back`);
            return this.activate(meta('auto-rollback', report), this.rollbackPlans(modules), []);
          } catch (err) {
            return this.history.fail(meta('auto-rollback', report), [], err);
          }
        }),
      confirm: (report) => {
        const kind = report.outcome === 'confirmed' ? 'confirm' : report.outcome === 'unverified' ? 'unverified' : 'superseded';
        const withdrawn = canary && kind === 'unverified' ? '; the canary is withdrawn, not promoted' : '';
        this.log.event(kind === 'unverified' ? 'warn' : 'info', `patch #${record.id} ${report.outcome} after ${report.elapsedMs} ms${report.reason ? ` (${report.reason}${withdrawn})` : ''}`, { patch: record.id, ...report.new });
        // A canary nobody called proves nothing: it is withdrawn (the live versions never stopped), never promoted unseen.
        if (canary && kind === 'confirm') void this.serialized(async () => this.promoteCanary(meta(kind, report)));
        else if (canary && kind === 'unverified') void this.serialized(async () => this.endCanary(meta(kind, report)));
        else this.history.noop(meta(kind, report), []);
      },
    });
    // Forget finished verifications after a while: anyone waiting has its answer.
    void done.then(() => hostSetTimeout(() => this.verifications.delete(record.id), 60_000).unref());
    return done;
  }

  /** Re-activates the previous version of `module` (default: of every module the last patch changed). */
  rollback(module?: string, options: { origin?: Origin; by?: string } = {}): Promise<PatchRecord> {
    return this.serialized(async () => {
      const started = monoNow();
      const origin = options.origin ?? 'api';
      try {
        const targets = module ? [module] : this.history.lastChangedModules();
        // Rolling back a module under canary ends the whole canary at once (its versions go, the live ones never stopped).
        if (targets.some((m) => this.bindings.canary?.versions.has(m))) return this.endCanary({ origin, by: options.by, kind: 'rollback', started, canary: this.canaryState?.share ?? 0 });
        if (targets.length === 0) throw rebindError('NO_ROLLBACK', 'nothing to roll back: no patch has changed a module yet');
        return this.activate({ origin, by: options.by, kind: 'rollback', started }, this.rollbackPlans(targets), []);
      } catch (err) {
        return this.history.fail({ origin, by: options.by, kind: 'rollback', started }, [], err);
      }
    });
  }

  /**
   * From now on every activation saves the live code and every record is
   * appended to the history file; the history of earlier runs is read back.
   */
  attachLiveCode(store: LiveCodeStore, historyFile: HistoryFile): void {
    this.liveCode = store;
    const earlier = historyFile.load(1000, (message) => this.log.warn(message));
    this.history.restore(earlier);
    // Numbers new versions after every version the history names, also when the manifest is gone or older (--from-disk, an interrupted canary).
    this.continueVersions(versionsUsed(earlier));
    this.history.onRecord((record) => {
      try {
        historyFile.append(record);
      } catch (err) {
        this.log.error(`patch #${record.id} could not be added to ${historyFile.file}: ${(err as Error).message}`);
      }
    });
    this.closeAbandoned(earlier);
  }

  /**
   * A verification or a canary that a stop cut short (its patch has no confirm, auto-rollback or abandoned record) is
   * closed with a record and a loud warning: nothing is verifying that code any more.
   */
  private closeAbandoned(records: readonly PatchRecord[]): void {
    const closed = new Set<number>();
    for (const r of records) if (r.verify && 'patch' in r.verify) closed.add(r.verify.patch);
    for (const r of records) {
      if (r.kind !== 'patch' || !r.ok || r.noop || !r.verify || 'patch' in r.verify || closed.has(r.id)) continue;
      const canary = r.canary !== undefined;
      const changed = r.modules.filter((m) => m.change !== 'unchanged');
      const names = changed.map((m) => `${m.module} v${m.newVersion ?? '-'}`).join(', ');
      this.history.noop({ origin: 'start', kind: canary ? 'canary-abandoned' : 'verify-abandoned', started: monoNow(), verify: { windowMs: r.verify.windowMs, patch: r.id, abandoned: true } }, changed);
      if (canary) {
        this.log.error(`CANARY ABANDONED: the canary of patch #${r.id} (${names}, ${Math.round(r.canary! * 100)}% of players) was cut short by a stop before it was promoted or rolled back; it is closed, the saved live code is served; patch again to run it again`);
      } else {
        this.log.error(`VERIFICATION ABANDONED: patch #${r.id} (${names}) was still being verified when the server stopped; it stays live UNVERIFIED. Watch it, or roll it back: ${changed.map((m) => `rebind rollback ${m.module}`).join('; ')}`);
      }
    }
  }

  /**
   * Activates the versions a manifest names, with their version numbers (a
   * restart on the saved live code), but those in `leaveOut` (modules that
   * failed to start).
   */
  restore(manifest: Manifest, store: LiveCodeStore, leaveOut: ReadonlySet<string> = new Set()): Promise<PatchRecord> {
    return this.serialized(async () => {
      const meta = { origin: 'start' as const, kind: 'restore' as const, started: monoNow() };
      this.continueVersions(manifest.lastVersion);
      const restored = restorePlans(store, this.paths, manifest);
      const { kept } = restored;
      for (const warning of restored.warnings) this.log.warn(warning);
      const plans = restored.plans.filter((plan) => !leaveOut.has(plan.module));
      const versions = new Map(Object.values(manifest.modules).map((m) => [m.module, m.version]));
      for (const [module, stack] of kept) this.kept.set(module, stack.slice(0, -1));
      return this.activate(meta, plans, [], [], (module) => versions.get(module)!);
    });
  }

  /** --from-disk: the saved builds stay rollback targets under the files loaded on top of them (call before that load). */
  keepSaved(manifest: Manifest, store: LiveCodeStore): void {
    const { kept, warnings } = restorePlans(store, this.paths, manifest, true);
    for (const warning of warnings) this.log.warn(warning);
    for (const [module, stack] of kept) this.kept.set(module, stack);
  }

  /** Numbers new versions after those of an earlier run, so that "v4" never names two builds. */
  continueVersions(last: Record<string, number> | undefined): void {
    for (const [module, version] of Object.entries(last ?? {})) if (Number.isInteger(version)) this.lastVersion.set(module, Math.max(version, this.lastVersion.get(module) ?? 0));
  }

  /** Where the files on disk differ from the live code. */
  drift(): Drift {
    return driftOf(this.paths, this.bindings.live, this.kept);
  }

  /** Plans that re-activate the previous kept build of each module; throws if one has none. */
  private rollbackPlans(targets: readonly string[]): Plan[] {
    refuseDuringCanary(this.bindings, targets);
    return targets.map((name) => {
      const stack = this.kept.get(name);
      if (!this.bindings.live.has(name) && !stack) throw rebindError('UNKNOWN_MODULE', `no module named "${name}"`);
      const previous = stack && stack.length >= 2 ? stack[stack.length - 2]! : undefined;
      if (!previous) throw rebindError('NO_ROLLBACK', `${name} has no previous version to roll back to`);
      return { module: name, file: this.bindings.live.get(name)?.file ?? path.join(this.paths.logicDir, name + '.ts'), artifact: previous.artifact, inputs: previous.inputs };
    });
  }

  /** Whether `rollback(module)` has a previous version to go back to. */
  canRollback(module: string): boolean {
    return (this.kept.get(module)?.length ?? 0) >= 2;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    for (const version of this.bindings.live.values()) version.timers.clearAll();
    await this.builder.close();
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runPatch(request: PatchRequest, verify: VerifyOptions | undefined): Promise<PatchRecord> {
    const started = monoNow();
    const leftOut: LeftOut[] = [];
    const meta = { origin: request.origin ?? 'api', by: request.by, kind: 'patch' as const, started, leftOut, ...(verify ? { verify: { windowMs: verify.windowMs } } : {}) };
    const onDisk = discoverModules(this.paths.logicDir);
    const live = this.bindings.live;
    let targets: string[];
    let removals: string[];
    try {
      if (verify && !metricsEnabled) throw rebindError('BAD_REQUEST', 'a verification needs the per-call counts, which REBIND_METRICS=0 turns off: start the server without it, or patch without --verify');
      const badWindow = verify && verifyWindowProblem(verify.windowMs);
      if (badWindow) throw rebindError('BAD_REQUEST', `the verification window ${badWindow}`);
      ({ targets, removals } = selectTargets(request, onDisk, live, this.paths, (name) => this.kept.get(name)?.at(-1)?.inputs));
      refuseDuringCanary(this.bindings, [...targets, ...removals]);
      // Named in the request: refused. Found on disk (a start, a watch save, patch everything): left out loudly, so one badly named file does not stop every other patch.
      if (request.modules && request.modules.length > 0) refuseUnsavableNames(targets);
      else {
        targets = targets.filter((name) => {
          if (MODULE_NAME.test(name)) return true;
          this.log.error(`MODULE LEFT OUT: ${JSON.stringify(name)} (BAD_MODULE_NAME: ${unsavableName(name)}); it is not patched in`);
          // In the record too, so that `rebind patch` says it rather than "nothing to do".
          leftOut.push({ module: name, code: 'BAD_MODULE_NAME', message: unsavableName(name) });
          return false;
        });
      }
    } catch (err) {
      return this.history.fail(meta, [], err);
    }

    const plans: Plan[] = [];
    const unchanged: ModuleChange[] = [];
    try {
      const built = await Promise.all(
        targets.map(async (name) => {
          const file = onDisk.get(name)!;
          const before = this.kept.get(name)?.at(-1)?.inputs;
          const preRead = before ? hashInputs([...before.keys()]) : new Map<string, string>();
          const artifact = await this.builder.build(name, file).catch((err: unknown) => {
            throw withModule(err, name);
          });
          const inputs = new Map(preRead);
          for (const [f, h] of hashInputs(artifact.inputs.filter((f) => !preRead.has(f)))) inputs.set(f, h);
          for (const f of [...inputs.keys()]) if (!artifact.inputs.includes(f)) inputs.delete(f);
          return { module: name, file, artifact, inputs };
        }),
      );
      for (const plan of built) {
        const current = live.get(plan.module);
        if (current && current.hash === plan.artifact.hash) {
          const top = this.kept.get(plan.module)?.at(-1);
          if (top) top.inputs = plan.inputs;
          unchanged.push({ module: plan.module, change: 'unchanged', oldVersion: current.version, newVersion: current.version, oldHash: current.hash, newHash: current.hash });
        } else plans.push(plan);
      }
    } catch (err) {
      return this.history.fail(meta, [], err);
    }
    if (plans.length === 0 && removals.length === 0) return this.history.noop(meta, unchanged);
    if (request.canary !== undefined) return this.startCanary({ ...meta, canary: request.canary }, plans, removals, unchanged, verify?.windowMs);
    return this.activate(meta, plans, removals, unchanged);
  }

  /** Initialises the new versions and binds them for the canary's share of players (canary.ts). */
  private startCanary(meta: RecordMeta, plans: Plan[], removals: string[], unchanged: ModuleChange[], windowMs: number | undefined): PatchRecord {
    let fresh: ModuleVersion[];
    try {
      checkCanary(meta.canary!, plans, removals, this.bindings, windowMs);
      ({ fresh } = this.activator.activate(plans, [], (module) => (this.lastVersion.get(module) ?? 0) + 1, { staged: true }));
    } catch (err) {
      return this.history.fail(meta, unchanged, err);
    }
    for (const version of fresh) this.lastVersion.set(version.module, Math.max(version.version, this.lastVersion.get(version.module) ?? 0));
    const before = fresh.map((v) => this.bindings.live.get(v.module)!);
    this.bindings.startCanary(fresh, meta.canary!);
    this.canaryState = { share: meta.canary!, plans, since: new Date().toISOString(), windowMs: windowMs! };
    return this.history.ok(meta, [...unchanged, ...changesBetween(before, new Map(fresh.map((v) => [v.module, v])))], []);
  }

  /** The canary went over budget: its versions serve nobody any more and are disposed; the live ones never stopped. */
  private endCanary(meta: RecordMeta): PatchRecord {
    const versions = this.bindings.endCanary();
    this.canaryState = undefined;
    for (const version of versions) {
      this.dispose(version);
      unregisterSourceMap(version.url);
    }
    return this.history.ok(meta, changesBetween(versions, this.bindings.live), []);
  }

  /** The canary stayed within budget: one swap gives its versions to everyone, as a patch would. */
  private promoteCanary(meta: RecordMeta): PatchRecord {
    const versions = this.bindings.endCanary();
    const plans = this.canaryState?.plans ?? [];
    this.canaryState = undefined;
    const replaced = this.bindings.swap(versions, []);
    for (const version of versions) this.keep(version, plans.find((p) => p.module === version.module)!, false);
    for (const old of replaced) this.dispose(old);
    this.saveLiveCode(versions);
    return this.history.ok(meta, changesBetween(replaced, this.bindings.live), []);
  }

  private activate(
    meta: Parameters<History['fail']>[0],
    plans: Plan[],
    removals: string[],
    unchanged: ModuleChange[] = [],
    versionOf = (module: string) => (this.lastVersion.get(module) ?? 0) + 1,
  ): PatchRecord {
    let fresh: ModuleVersion[];
    let replaced: ModuleVersion[];
    let migrated: string[];
    try {
      ({ fresh, replaced, migrated } = this.activator.activate(plans, removals, versionOf));
    } catch (err) {
      return this.history.fail(meta, unchanged, err);
    }

    const changes: ModuleChange[] = [...unchanged];
    for (const version of fresh) {
      this.lastVersion.set(version.module, Math.max(version.version, this.lastVersion.get(version.module) ?? 0));
      const old = replaced.find((r) => r.module === version.module);
      changes.push({ module: version.module, change: old ? 'updated' : 'added', oldVersion: old?.version ?? null, newVersion: version.version, oldHash: old?.hash ?? null, newHash: version.hash });
      this.keep(version, plans.find((p) => p.module === version.module)!, meta.kind === 'rollback' || meta.kind === 'auto-rollback');
    }
    for (const name of removals) {
      const old = replaced.find((r) => r.module === name);
      if (old) changes.push({ module: name, change: 'removed', oldVersion: old.version, newVersion: null, oldHash: old.hash, newHash: null });
      void this.builder.forget(name);
    }
    for (const old of replaced) this.dispose(old);
    this.saveLiveCode(fresh);
    return this.history.ok(meta, changes, migrated);
  }

  /**
   * Makes what is live now durable: the new builds, then the manifest. The
   * swap has happened; a failure here is logged and shown by status (the
   * next restart would bring back the code of the last manifest saved).
   */
  private saveLiveCode(fresh: readonly ModuleVersion[]): void {
    const store = this.liveCode;
    if (!store) return;
    try {
      for (const version of fresh) store.saveBuild(version.module, version.hash, version.artifact);
      const manifest = buildManifest(this.paths, this.bindings.live, this.kept, this.lastVersion);
      store.saveManifest(manifest);
      this.liveCodeSavedAt = manifest.savedAt;
      this.liveCodeError = undefined;
    } catch (err) {
      this.liveCodeError = (err as Error).message;
      this.log.error(`the live code could not be saved in ${store.dir} (${this.liveCodeError}); a restart now would bring back the code saved before this patch`);
    }
  }

  private keep(version: ModuleVersion, plan: Plan, isRollback: boolean): void {
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
    stack.push({ artifact: plan.artifact, inputs: plan.inputs, url: version.url });
    while (stack.length > KEEP_VERSIONS) unregisterSourceMap(stack.shift()!.url);
  }

  private dispose(old: ModuleVersion): void {
    this.activator.dispose(old);
    // The grace timer's callback must not hold the old version (its code would live 10 s longer).
    const rel = relativeToRoot(this.paths.root, old.file);
    const version = old.version;
    const log = this.log;
    const intervals = old.timers.retire(TIMEOUT_GRACE_MS, (left) => {
      log.warn(`${rel} v${version} still had ${left} timeout(s) pending ${TIMEOUT_GRACE_MS / 1000} s after it was replaced; cleared them (use ctx.schedule for timers that should outlive a patch)`);
    });
    if (intervals > 0) {
      log.warn(`${rel} v${version} left ${intervals} interval(s) running; cleared them (use ctx.schedule or tick for work that should outlive a patch)`);
    }
  }
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

/** The highest version number each module has had in `records`. */
function versionsUsed(records: readonly PatchRecord[]): Record<string, number> {
  const last: Record<string, number> = {};
  for (const record of records) {
    for (const m of record.modules ?? []) {
      for (const v of [m.oldVersion, m.newVersion]) if (typeof v === 'number' && Number.isInteger(v) && v > (last[m.module] ?? 0)) last[m.module] = v;
    }
  }
  return last;
}
