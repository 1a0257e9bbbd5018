import { readFileSync } from 'node:fs';
import path from 'node:path';
import { codeFrame, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { StoreRegistry } from '../store/registry.ts';
import { Activator, type Plan } from './activation.ts';
import type { BindingTable, ModuleVersion } from './bindings.ts';
import { Builder, relativeToRoot, type ProjectPaths } from './build.ts';
import type { Dispatcher } from './dispatch.ts';
import { DEFAULT_TIME_LIMIT_MS } from './evaluate.ts';
import { History, type LeftOut, type ModuleChange, type Origin, type PatchRecord, type RecordMeta } from './history.ts';
import type { HistoryFile } from './history-file.ts';
import type { LiveCodeStore, Manifest } from './live-code.ts';
import { restorePlans, type Drift } from './live-manifest.ts';
import { KeptBuilds } from './kept-builds.ts';
import { planPatch, type PlannedPatch } from './plan-patch.ts';
import { closeAbandoned, versionsUsed } from './abandoned.ts';
import { PreparedPatches, type Decision, type HoldOptions, type PrepareAnswer, type ShippedPatch } from './prepared.ts';
import { changeTo, shippedFrame, shippedPlans } from './shipped.ts';
import { verifyPatch, type VerifyOptions, type VerifyReport } from './verify.ts';
import { checkCanary, refuseDuringCanary, type CanaryState } from './canary.ts';
import { CanaryRun } from './canary-run.ts';
import { hostSetImmediate, hostSetTimeout, monoNow } from '../host-globals.ts';
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

/** How long a replaced version's pending timeouts may still fire, so calls in flight can finish. */
const TIMEOUT_GRACE_MS = 10_000;

export class PatchEngine {
  readonly history: History;
  private readonly builder: Builder;
  /** The builds kept for rollback, version numbers, and their durable copy. */
  readonly builds: KeptBuilds;
  private readonly log = createLogger('patch');
  private readonly activator: Activator;
  private queue: Promise<unknown> = Promise.resolve();
  /** Verification of the patches that saves under --watch make (the server's --verify). */
  watchVerify: VerifyOptions | undefined;
  private readonly verifications = new Map<number, Promise<VerifyReport>>();
  private readonly prepared = new PreparedPatches();
  private readonly canary: CanaryRun;
  /** Set while a fleet commit's record is made: its history line is written after the answer (see activate). */
  private historyLater = false;

  constructor(
    readonly paths: ProjectPaths,
    registry: StoreRegistry,
    private readonly bindings: BindingTable,
    private readonly dispatcher: Dispatcher,
    timeLimitMs = DEFAULT_TIME_LIMIT_MS,
  ) {
    this.builder = new Builder(paths);
    this.builds = new KeptBuilds(paths, bindings, this.log);
    this.activator = new Activator(paths, registry, bindings, dispatcher, timeLimitMs);
    this.history = new History((location) => {
      try {
        return codeFrame(location, readFileSync(path.resolve(paths.root, location.file), 'utf8'));
      } catch {
        return codeFrame(location, undefined) || undefined;
      }
    });
    this.canary = new CanaryRun({ bindings, builds: this.builds, history: this.history, activator: this.activator, dispose: (version) => this.dispose(version) });
  }

  /** The running canary's plans, share and window, if one runs (its versions are in bindings.canary). */
  get canaryState(): CanaryState | undefined {
    return this.canary.state;
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
          if (canary) return this.canary.end(meta('auto-rollback', report));
          try {
            // A patch queued before this rollback may have replaced the version: then rolling back would undo that one instead.
            const moved = report.modules.filter((m) => this.bindings.live.get(m.module)?.version !== m.newVersion);
            if (moved.length > 0) throw rebindError('NO_ROLLBACK', `${moved.map((m) => m.module).join(', ')} changed again before the auto-rollback could run; nothing was rolled back`);
            return this.activate(meta('auto-rollback', report), this.builds.rollbackPlans(modules), []);
          } catch (err) {
            return this.history.fail(meta('auto-rollback', report), [], err);
          }
        }),
      confirm: (report) => {
        const kind = report.outcome === 'confirmed' ? 'confirm' : report.outcome === 'unverified' ? 'unverified' : 'superseded';
        const withdrawn = canary && kind === 'unverified' ? '; the canary is withdrawn, not promoted' : '';
        this.log.event(kind === 'unverified' ? 'warn' : 'info', `patch #${record.id} ${report.outcome} after ${report.elapsedMs} ms${report.reason ? ` (${report.reason}${withdrawn})` : ''}`, { patch: record.id, ...report.new });
        // A canary nobody called proves nothing: it is withdrawn (the live versions never stopped), never promoted unseen.
        if (canary && kind === 'confirm') void this.serialized(async () => this.canary.promote(meta(kind, report)));
        else if (canary && kind === 'unverified') void this.serialized(async () => this.canary.end(meta(kind, report)));
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
        if (targets.some((m) => this.bindings.canary?.versions.has(m))) return this.canary.end({ origin, by: options.by, kind: 'rollback', started, canary: this.canary.state?.share ?? 0 });
        if (targets.length === 0) throw rebindError('NO_ROLLBACK', 'nothing to roll back: no patch has changed a module yet');
        return this.activate({ origin, by: options.by, kind: 'rollback', started }, this.builds.rollbackPlans(targets), []);
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
    this.builds.store = store;
    const earlier = historyFile.load(1000, (message) => this.log.warn(message));
    this.history.restore(earlier);
    // Numbers new versions after every version the history names, also when the manifest is gone or older (--from-disk, an interrupted canary).
    this.continueVersions(versionsUsed(earlier));
    const append = (record: PatchRecord) => {
      try {
        historyFile.append(record);
      } catch (err) {
        this.log.error(`patch #${record.id} could not be added to ${historyFile.file}: ${(err as Error).message}`);
      }
    };
    // Lines wait only behind a fleet commit's (see activate), so that the file keeps the records' order.
    let waiting: PatchRecord[] = [];
    this.history.onRecord((record) => {
      if (!this.historyLater && waiting.length === 0) return append(record);
      waiting.push(record);
      if (waiting.length > 1) return;
      hostSetImmediate(() => {
        const lines = waiting;
        waiting = [];
        for (const line of lines) append(line);
      });
    });
    closeAbandoned(earlier, this.history, this.log);
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
      this.builds.restoreStacks(kept);
      return this.activate(meta, plans, [], [], (module) => versions.get(module)!);
    });
  }

  /** --from-disk: the saved builds stay rollback targets under the files loaded on top of them (call before that load). */
  keepSaved(manifest: Manifest, store: LiveCodeStore): void {
    const { kept, warnings } = restorePlans(store, this.paths, manifest, true);
    for (const warning of warnings) this.log.warn(warning);
    this.builds.keepSaved(kept);
  }

  /** Numbers new versions after those of an earlier run, so that "v4" never names two builds. */
  continueVersions(last: Record<string, number> | undefined): void {
    this.builds.continueVersions(last);
  }

  /** Where the files on disk differ from the live code. */
  drift(): Drift {
    return this.builds.drift();
  }

  /** Whether `rollback(module)` has a previous version to go back to. */
  canRollback(module: string): boolean {
    return this.builds.canRollback(module);
  }

  /** Why the live code could not be saved after the last patch, if it could not (shown by status). */
  get liveCodeError(): string | undefined {
    return this.builds.saveError;
  }

  get liveCodeSavedAt(): string | undefined {
    return this.builds.savedAt;
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
    const leftOut: LeftOut[] = [];
    const meta = { origin: request.origin ?? 'api', by: request.by, kind: 'patch' as const, started: monoNow(), leftOut, ...(verify ? { verify: { windowMs: verify.windowMs } } : {}) };
    let planned: PlannedPatch;
    try {
      if (verify && !metricsEnabled) throw rebindError('BAD_REQUEST', 'a verification needs the per-call counts, which REBIND_METRICS=0 turns off: start the server without it, or patch without --verify');
      const badWindow = verify && verifyWindowProblem(verify.windowMs);
      if (badWindow) throw rebindError('BAD_REQUEST', `the verification window ${badWindow}`);
      planned = await this.planFor(request, leftOut);
    } catch (err) {
      return this.history.fail(meta, [], err);
    }
    const { plans, removals, unchanged } = planned;
    if (plans.length === 0 && removals.length === 0) return this.history.noop(meta, unchanged);
    if (request.canary !== undefined) return this.canary.start({ ...meta, canary: request.canary }, plans, removals, unchanged, verify?.windowMs, (module) => this.nextVersion(module));
    return this.activate(meta, plans, removals, unchanged);
  }

  private planFor(request: PatchRequest, leftOut?: LeftOut[]): Promise<PlannedPatch> {
    return planPatch(request, {
      leftOut,
      paths: this.paths,
      builder: this.builder,
      bindings: this.bindings,
      log: this.log,
      inputsOf: (name) => this.builds.inputsOf(name),
      sameBuild: (name, inputs) => this.builds.sameBuild(name, inputs),
    });
  }

  /**
   * Builds what `request` would patch without activating anything (a fleet builds once, then ships the bytes).
   * Throws the coded error a patch would record.
   */
  plan(request: PatchRequest): Promise<PlannedPatch> {
    return this.serialized(() => this.planFor(request));
  }

  /** The version the next build of `module` goes live as here. */
  nextVersion(module: string): number {
    return this.builds.nextVersion(module);
  }

  /**
   * Phase one of a patch that several processes make together (prepared.ts): tries `shipped` for real on this
   * node's data and throws it all away, answers, and then holds this engine's queue until the decision, which
   * it carries out. `applied` hears the record of the commit (or of the abort).
   */
  prepare(shipped: ShippedPatch, hold: HoldOptions, applied: (record: PatchRecord) => void = () => undefined, verify?: PatchRecord['verify']): Promise<PrepareAnswer> {
    return new Promise<PrepareAnswer>((answer) => {
      void this.serialized(async () => {
        const why = verify ?? shipped.verify ?? (shipped.verifyMs ? { windowMs: shipped.verifyMs } : undefined);
        const meta: RecordMeta = { origin: shipped.origin, by: shipped.by, kind: shipped.kind, started: monoNow(), ...(why ? { verify: why } : {}), ...(shipped.canary !== undefined ? { canary: shipped.canary } : {}) };
        const versionOf = (module: string) => shipped.versions[module] ?? this.nextVersion(module);
        let unchanged: ModuleChange[] = [];
        let plans: Plan[] = [];
        try {
          ({ plans, unchanged } = shippedPlans(this.paths, this.bindings.live, shipped.builds));
          refuseDuringCanary(this.bindings, [...plans.map((p) => p.module), ...shipped.removals]);
          if (shipped.canary !== undefined) checkCanary(shipped.canary, plans, shipped.removals, this.bindings, shipped.verifyMs);
          this.activator.activate(plans, shipped.canary !== undefined ? [] : shipped.removals, versionOf, { trial: true, staged: shipped.canary !== undefined });
        } catch (err) {
          const record = this.history.fail(meta, unchanged, err, (location) => shippedFrame(shipped.builds, location));
          answer({ ok: false, error: record.error! });
          applied(record);
          return record;
        }
        answer({ ok: true, changes: [...unchanged, ...plans.map((p) => changeTo(this.bindings.live.get(p.module), p, versionOf(p.module)))] });
        const decision = await this.prepared.wait(shipped.id, hold);
        const record = this.carryOut(decision, meta, plans, shipped, unchanged, versionOf);
        applied(record);
        return record;
      });
    });
  }

  private carryOut(decision: Decision, meta: RecordMeta, plans: Plan[], shipped: ShippedPatch, unchanged: ModuleChange[], versionOf: (module: string) => number): PatchRecord {
    if (decision === 'abort') return this.history.fail(meta, unchanged, rebindError('FLEET_ABORTED', `fleet patch ${shipped.id} was not committed: not every node prepared it in time, or one refused it; nothing changed`));
    if (plans.length === 0 && shipped.removals.length === 0) return this.history.noop(meta, unchanged);
    if (shipped.canary !== undefined) return this.canary.start(meta, plans, shipped.removals, unchanged, shipped.verifyMs, versionOf);
    // The decision and the manifest are durable in the fleet's Redis (a node that restarts loads them): the local copy may follow the answer.
    return this.activate(meta, plans, shipped.removals, unchanged, versionOf, true);
  }

  /**
   * Ends the running canary as a fleet decided it: promoted (one swap gives its versions to everyone) or not (its
   * versions are disposed). `report` is the fleet's verification, recorded as the confirm or auto-rollback.
   */
  finishCanary(promote: boolean, report: VerifyReport & { patch: number }): Promise<PatchRecord | undefined> {
    return this.serialized(async () => {
      if (!this.bindings.canary) return undefined;
      const meta: RecordMeta = { origin: 'verify', by: 'verify', kind: promote ? 'confirm' : 'auto-rollback', started: monoNow(), verify: report };
      return promote ? this.canary.promote(meta) : this.canary.end(meta);
    });
  }

  /** Phase two: the decision about prepared patch `id`; returns whether it was waiting here. */
  decide(id: string, decision: Decision): boolean {
    return this.prepared.decide(id, decision);
  }

  private activate(
    meta: Parameters<History['fail']>[0],
    plans: Plan[],
    removals: string[],
    unchanged: ModuleChange[] = [],
    versionOf = (module: string) => this.nextVersion(module),
    saveLater = false,
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
      const old = replaced.find((r) => r.module === version.module);
      changes.push({ module: version.module, change: old ? 'updated' : 'added', oldVersion: old?.version ?? null, newVersion: version.version, oldHash: old?.hash ?? null, newHash: version.hash });
      this.builds.keep(version, plans.find((p) => p.module === version.module)!, meta.kind === 'rollback' || meta.kind === 'auto-rollback');
    }
    for (const name of removals) {
      const old = replaced.find((r) => r.module === name);
      if (old) changes.push({ module: name, change: 'removed', oldVersion: old.version, newVersion: null, oldHash: old.hash, newHash: null });
      void this.builder.forget(name);
    }
    for (const old of replaced) this.dispose(old);
    if (!saveLater) {
      this.builds.save(fresh);
      return this.history.ok(meta, changes, migrated);
    }
    // A fleet commit: the decision and the manifest are durable in Redis, so this node's copy and its history
    // line (each an fsync, which a busy disk can make slow) follow the answer instead of delaying every node's swap.
    hostSetImmediate(() => this.builds.save(fresh));
    this.historyLater = true;
    try {
      return this.history.ok(meta, changes, migrated);
    } finally {
      this.historyLater = false;
    }
  }

  private dispose(old: ModuleVersion): void {
    this.activator.dispose(old);
    // The grace timer's callback must not hold the old version (its code would live 10 s longer).
    const rel = relativeToRoot(this.paths.root, old.file);
    const version = old.version;
    const log = this.log;
    const { intervals, listeners } = old.timers.retire(TIMEOUT_GRACE_MS, (left) => {
      log.warn(`${rel} v${version} still had ${left} timeout(s) pending ${TIMEOUT_GRACE_MS / 1000} s after it was replaced; cleared them (use ctx.schedule for timers that should outlive a patch)`);
    });
    if (intervals > 0) {
      log.warn(`${rel} v${version} left ${intervals} interval(s) running; cleared them (use ctx.schedule or tick for work that should outlive a patch)`);
    }
    // Said at info: a listener added at the top level or in init is expected to be added again by the new version.
    if (listeners > 0) log.info(`${rel} v${version}'s ${listeners} listener(s) on process and diagnostics channel subscription(s) removed (the new version's own replace them)`);
  }
}
