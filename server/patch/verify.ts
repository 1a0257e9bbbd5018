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
//   1 ms: below that, differences are noise), once both have 50 calls.

export interface VerifyBudget {
  /** Errors the new versions must have made before their rate is judged (default 10). */
  minErrors: number;
  /** How far (0.05 = 5 points) the new error rate may exceed the previous one (default 0.05). */
  errorRateMargin: number;
  /** How many times the previous p99 the new p99 may reach (default 3). */
  latencyFactor: number;
  /** Calls each side needs before latency is judged (default 50). */
  minCalls: number;
}

export const DEFAULT_BUDGET: VerifyBudget = { minErrors: 10, errorRateMargin: 0.05, latencyFactor: 3, minCalls: 50 };
/** How often the figures are looked at during the window. */
const CHECK_EVERY_MS = 100;
const LATENCY_FLOOR_MS = 1;

export interface VerifyOptions extends Partial<VerifyBudget> {
  windowMs: number;
}

/** "30s", "500ms", "2m" or a number of seconds, in milliseconds; undefined if it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

export interface Figures {
  calls: number;
  errors: number;
  errorRate: number;
  p99Ms: number;
}

export interface VerifyReport {
  /** The patch under verification. */
  patch: number;
  outcome: 'confirmed' | 'rolled-back' | 'superseded' | 'failed-to-roll-back';
  reason?: string;
  windowMs: number;
  elapsedMs: number;
  modules: Array<{ module: string; newVersion: number; oldVersion: number }>;
  new: Figures;
  previous: Figures;
}

function figures(t: CallTotals): Figures {
  return { calls: t.calls, errors: t.errors, errorRate: t.calls ? Math.round((t.errors / t.calls) * 10_000) / 10_000 : 0, p99Ms: quantileMs(t, 0.99) };
}

/** Why `now` is over budget against `previous`, or undefined. */
export function overBudget(now: CallTotals, previous: CallTotals, budget: VerifyBudget): string | undefined {
  const rate = now.calls ? now.errors / now.calls : 0;
  const before = previous.calls ? previous.errors / previous.calls : 0;
  if (now.errors >= budget.minErrors && rate > before + budget.errorRateMargin) {
    return `error rate ${(rate * 100).toFixed(1)}% (${now.errors} of ${now.calls} calls), previous version ${(before * 100).toFixed(1)}%`;
  }
  if (now.calls >= budget.minCalls && previous.calls >= budget.minCalls) {
    const p99 = quantileMs(now, 0.99);
    const p99Before = Math.max(quantileMs(previous, 0.99), LATENCY_FLOOR_MS);
    if (p99 > budget.latencyFactor * p99Before) return `p99 latency ${p99} ms, over ${budget.latencyFactor} x the previous version's ${p99Before} ms`;
  }
  return undefined;
}

export interface VerifyHooks {
  callStats: CallStatsBook;
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
  const previous = totals(modules.flatMap((m) => hooks.callStats.ofVersion(m.module, m.oldVersion)));
  // Calls that reached the new versions before the window (none, usually) are counted from here.
  const newStats = () => totals(modules.flatMap((m) => hooks.callStats.ofVersion(m.module, m.newVersion)));
  const start = newStats();
  const started = monoNow();
  const report = (outcome: VerifyReport['outcome'], now: CallTotals, reason?: string): VerifyReport => ({
    patch: record.id,
    outcome,
    ...(reason ? { reason } : {}),
    windowMs: options.windowMs,
    elapsedMs: Math.round(monoNow() - started),
    modules,
    new: figures(now),
    previous: figures(previous),
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
      const now = since(newStats(), start);
      if (modules.some((m) => hooks.liveVersion(m.module) !== m.newVersion)) {
        hostClearInterval(timer);
        const done = report('superseded', now, 'another patch or rollback replaced the version under verification');
        hooks.confirm(done);
        resolve(done);
        return;
      }
      const reason = overBudget(now, previous, budget);
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
        const done = report('confirmed', now);
        hooks.confirm(done);
        resolve(done);
      }
    }, CHECK_EVERY_MS);
  });
}
