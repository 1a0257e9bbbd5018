import { quantileMs, since, totals, type CallStatsBook, type CallTotals } from '../metrics/call-stats.ts';
import type { PatchRecord } from './history.ts';
import { hostClearInterval, hostSetInterval, monoNow } from '../host-globals.ts';

// A patch that watches itself. For a window after the swap, the calls of
// the new versions' handlers are compared with the previous versions' (over
// their whole life, up to the swap). Over budget, the engine rolls the
// modules back on its own, as an `auto-rollback` record with the reason and
// the figures; within budget for the whole window, the patch is confirmed.
//
// The defaults, chosen so that a game whose handlers refuse some calls on
// purpose (fail('ROOM_FULL')) is not rolled back for it:
// - errors: at least 10 errors AND an error rate more than 5 percentage points
//   above the previous version's;
// - latency: p99 over 3 times the previous version's p99 (taken as at least
//   10 ms: below that, a busy machine's scheduling alone moves a p99, as a
//   2-core box shared by others showed: 0.25 ms to 10 ms for the same code),
//   once both have 100 calls (with
//   fewer, the p99 is the single slowest call), counting the new versions'
//   calls only after a warm-up (a second, or a quarter of a shorter window):
//   right after a swap the new code is cold and the patch's own build and
//   collection are still settling, and on a loaded machine that alone took
//   a good version's p99 from 2.5 to 10 ms and rolled it back;
// - lifecycle hooks (tick; init and dispose fail the patch itself): the same
//   error rule over the new versions' hook runs against the previous
//   versions' runs, counted apart from the handlers' calls (a tick runs 20
//   times a second and would drown a handler's rate, or the reverse). A tick
//   that throws on every run is rolled back after 10 runs. Their run time is
//   not judged: the tick has its own metrics.
// - calls that do not answer: an async call still running `stallMs` after it
//   began (1 s, or 3 x the previous p99 if longer, but at most half the
//   window, so that a call from the window's first half that never answers
//   is seen before its end) counts as a call and an error, as soon as it is
//   stalled: a version awaiting forever on half its calls is rolled back
//   like one that throws on them.
// - too few calls: a window in which the new versions answered fewer than
//   `minSeen` calls and hook runs (10) proves nothing: its outcome is
//   `unverified`, never `confirmed` (a plain patch stays live; a canary is
//   not promoted, its versions are withdrawn).

export interface VerifyBudget {
  /** Errors the new versions must have made before their rate is judged (default 10). */
  minErrors: number;
  /** How far (0.05 = 5 points) the new error rate may exceed the previous one (default 0.05). */
  errorRateMargin: number;
  /** How many times the previous p99 the new p99 may reach (default 3). */
  latencyFactor: number;
  /** Calls each side needs before latency is judged (default 100). */
  minCalls: number;
  /** How long after the swap the new versions' calls start to count for latency (default 1000; at most a quarter of the window). */
  warmupMs: number;
  /** How long an unanswered call may run before it counts as an error (default 1000, or 3 x the previous p99 if longer; at most half the window). */
  stallMs: number;
  /** Calls and hook runs the new versions need in the window for it to be confirmed (default 10); fewer: `unverified`. */
  minSeen: number;
}

export const DEFAULT_BUDGET: VerifyBudget = { minErrors: 10, errorRateMargin: 0.05, latencyFactor: 3, minCalls: 100, warmupMs: 1000, stallMs: 1000, minSeen: 10 };
/** How often the figures are looked at during the window. */
const CHECK_EVERY_MS = 100;
const LATENCY_FLOOR_MS = 10;

export interface VerifyOptions extends Partial<VerifyBudget> {
  windowMs: number;
}

export interface Figures {
  calls: number;
  errors: number;
  errorRate: number;
  p99Ms: number;
  /** Of the new versions: calls that had not answered after the stall limit (counted in calls and errors too). */
  unanswered?: number;
}

/** Runs and errors of lifecycle hooks (tick), beside the handlers' figures. */
export interface HookFigures {
  runs: number;
  errors: number;
  errorRate: number;
}

export interface VerifyReport {
  /** The patch under verification. */
  patch: number;
  outcome: 'confirmed' | 'rolled-back' | 'superseded' | 'failed-to-roll-back' | 'unverified';
  reason?: string;
  windowMs: number;
  elapsedMs: number;
  modules: Array<{ module: string; newVersion: number; oldVersion: number }>;
  new: Figures;
  previous: Figures;
  /** The hooks' runs, when either version ran one (a tick) during the comparison. */
  hooks?: { new: HookFigures; previous: HookFigures };
}

function figures(t: CallTotals, unanswered?: number): Figures {
  return {
    calls: t.calls,
    errors: t.errors,
    errorRate: t.calls ? Math.round((t.errors / t.calls) * 10_000) / 10_000 : 0,
    p99Ms: quantileMs(t, 0.99),
    ...(unanswered ? { unanswered } : {}),
  };
}

/** `t` with `stalled` more calls, all failed (calls that never answered). */
function withStalled(t: CallTotals, stalled: number): CallTotals {
  return stalled ? { ...t, calls: t.calls + stalled, errors: t.errors + stalled } : t;
}

/** The error rule: both rates as percentages when `now` has enough errors at a rate far enough above `previous`'s. */
function errorsOver(now: CallTotals, previous: CallTotals, budget: VerifyBudget): { rate: string; before: string } | undefined {
  const rate = now.calls ? now.errors / now.calls : 0;
  const before = previous.calls ? previous.errors / previous.calls : 0;
  if (now.errors < budget.minErrors || rate <= before + budget.errorRateMargin) return undefined;
  return { rate: `${(rate * 100).toFixed(1)}%`, before: `${(before * 100).toFixed(1)}%` };
}

/** Why `now` is over budget against `previous`, or undefined; `warm`: the calls since the warm-up, judged for latency (none yet: undefined). */
export function overBudget(now: CallTotals, previous: CallTotals, budget: VerifyBudget, warm: CallTotals | undefined): string | undefined {
  const errors = errorsOver(now, previous, budget);
  if (errors) return `error rate ${errors.rate} (${now.errors} of ${now.calls} calls), previous version ${errors.before}`;
  if (warm && warm.calls >= budget.minCalls && previous.calls >= budget.minCalls) {
    const p99 = quantileMs(warm, 0.99);
    const p99Before = Math.max(quantileMs(previous, 0.99), LATENCY_FLOOR_MS);
    if (p99 > budget.latencyFactor * p99Before) return `p99 latency ${p99} ms, over ${budget.latencyFactor} x the previous version's ${p99Before} ms`;
  }
  return undefined;
}

/** Why the new versions' lifecycle hooks are over budget against the previous versions', or undefined. */
export function hooksOverBudget(now: CallTotals, previous: CallTotals, budget: VerifyBudget): string | undefined {
  const errors = errorsOver(now, previous, budget);
  return errors && `lifecycle hook errors: ${errors.rate} of runs (${now.errors} of ${now.calls}), previous version ${errors.before}`;
}

function hookFigures(t: CallTotals): HookFigures {
  return { runs: t.calls, errors: t.errors, errorRate: t.calls ? Math.round((t.errors / t.calls) * 10_000) / 10_000 : 0 };
}

export interface VerifyHooks {
  callStats: CallStatsBook;
  /** Runs of lifecycle hooks per module version (the dispatcher's hookStats). */
  hookStats: CallStatsBook;
  /** The live version number of a module (undefined if it is not live). */
  liveVersion(module: string): number | undefined;
  /** Rolls these modules back; resolves to the rollback's record. */
  rollBack(modules: string[], report: VerifyReport): Promise<PatchRecord>;
  /** Records the outcome when nothing was rolled back. */
  confirm(report: VerifyReport): void;
}

/** Watches the modules `record` updated; resolves when the window ends or the patch was rolled back. */
export function verifyPatch(record: PatchRecord, options: VerifyOptions, hooks: VerifyHooks): Promise<VerifyReport> {
  const budget: VerifyBudget = { ...DEFAULT_BUDGET, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const modules = record.modules
    .filter((m) => m.change === 'updated' && m.newVersion !== null && m.oldVersion !== null)
    .map((m) => ({ module: m.module, newVersion: m.newVersion!, oldVersion: m.oldVersion! }));
  const ofVersions = (book: CallStatsBook, which: 'oldVersion' | 'newVersion') => totals(modules.flatMap((m) => book.ofVersion(m.module, m[which])));
  const previous = ofVersions(hooks.callStats, 'oldVersion');
  const previousHooks = ofVersions(hooks.hookStats, 'oldVersion');
  // Calls that reached the new versions before the window (init's runs, usually) are counted from here.
  const newStats = () => ofVersions(hooks.callStats, 'newVersion');
  const newHooks = () => ofVersions(hooks.hookStats, 'newVersion');
  const stallMs = Math.min(Math.max(budget.stallMs, budget.latencyFactor * quantileMs(previous, 0.99)), options.windowMs / 2);
  // Calls of the new versions (handlers and hooks) that began more than stallMs ago and have not answered.
  const stalled = (book: CallStatsBook) => {
    const before = monoNow() - stallMs;
    return modules.reduce((n, m) => n + book.ofVersion(m.module, m.newVersion).reduce((k, s) => k + s.stalled(before), 0), 0);
  };
  const start = newStats();
  const startHooks = newHooks();
  const started = monoNow();
  const warmupMs = Math.min(budget.warmupMs, options.windowMs / 4);
  let warmStart: CallTotals | undefined;
  let hooksNow: CallTotals = since(startHooks, startHooks);
  let unanswered = 0;
  const report = (outcome: VerifyReport['outcome'], now: CallTotals, reason?: string): VerifyReport => ({
    patch: record.id,
    outcome,
    ...(reason ? { reason } : {}),
    windowMs: options.windowMs,
    elapsedMs: Math.round(monoNow() - started),
    modules,
    new: figures(now, unanswered),
    previous: figures(previous),
    ...(hooksNow.calls > 0 || previousHooks.calls > 0 ? { hooks: { new: hookFigures(hooksNow), previous: hookFigures(previousHooks) } } : {}),
  });

  return new Promise<VerifyReport>((resolve) => {
    if (modules.length === 0) {
      // Only added modules: there is nothing to compare with, nor to roll back to.
      const done = report('confirmed', start, 'no updated module to compare');
      hooks.confirm(done);
      resolve(done);
      return;
    }
    const timer = hostSetInterval(() => {
      const stalledCalls = stalled(hooks.callStats);
      const stalledRuns = stalled(hooks.hookStats);
      unanswered = stalledCalls + stalledRuns;
      const now = withStalled(since(newStats(), start), stalledCalls);
      hooksNow = withStalled(since(newHooks(), startHooks), stalledRuns);
      if (modules.some((m) => hooks.liveVersion(m.module) !== m.newVersion)) {
        hostClearInterval(timer);
        const done = report('superseded', now, 'another patch or rollback replaced the version under verification');
        hooks.confirm(done);
        resolve(done);
        return;
      }
      if (!warmStart && monoNow() - started >= warmupMs) warmStart = newStats();
      const reason = overBudget(now, previous, budget, warmStart && since(newStats(), warmStart)) ?? hooksOverBudget(hooksNow, previousHooks, budget);
      if (reason) {
        hostClearInterval(timer);
        const done = report('rolled-back', now, reason);
        hooks.rollBack(
          modules.map((m) => m.module),
          done,
        ).then(
          (rollback) => resolve(rollback.ok ? done : { ...done, outcome: 'failed-to-roll-back', reason: `${reason}; the rollback failed: ${rollback.error?.message ?? ''}` }),
          (err: unknown) => resolve({ ...done, outcome: 'failed-to-roll-back', reason: `${reason}; the rollback failed: ${(err as Error).message}` }),
        );
        return;
      }
      if (monoNow() - started >= options.windowMs) {
        hostClearInterval(timer);
        const seen = now.calls + hooksNow.calls;
        const done =
          seen < budget.minSeen
            ? report('unverified', now, `too few calls to judge: ${seen} call(s) and hook run(s) of the new version in the window, ${budget.minSeen} needed`)
            : report('confirmed', now);
        hooks.confirm(done);
        resolve(done);
      }
    }, CHECK_EVERY_MS);
  });
}
