import type { ModuleVersion } from '../patch/bindings.ts';

// Calls, errors and latency of each handler, per module version, counted in
// plain fields and one small array: a call costs two clock reads and a few
// increments. Prometheus (metrics.ts) reads these at scrape time, and a
// patch's verification (verify.ts) compares one version's with another's.
// REBIND_METRICS=0 turns the counting off (the bench measures the cost).

/** Upper bounds of the latency buckets, in milliseconds (the last bucket is +Inf). */
export const LATENCY_BUCKETS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

export let metricsEnabled = process.env.REBIND_METRICS !== '0';

/** Turns the counting on or off in this process (the bench compares the two in one run). */
export function setMetricsEnabled(on: boolean): void {
  metricsEnabled = on;
}

export class CallStats {
  calls = 0;
  errors = 0;
  sumMs = 0;
  /** The slowest call: a quantile is at most this (a bucket's upper bound alone said 250 ms for 50 ms calls). */
  maxMs = 0;
  /** Calls per latency bucket (not cumulative); the last slot is over the last bound. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);

  constructor(
    readonly handler: string,
    readonly module: string,
    readonly version: number,
  ) {}

  /**
   * Start times of the async calls that have not answered yet, by a number of their own: a call awaiting forever
   * never reaches record(), and a verification must see it (as an error once it is stalled) and /metrics count it
   * (rebind_handler_calls_in_flight). Sync calls never enter it.
   */
  readonly inFlight = new Map<number, number>();
  private nextCall = 0;

  /** An async call began at `started` (ms, monotonic); pass what it returns to settle(). */
  begin(started: number): number {
    const id = this.nextCall++;
    this.inFlight.set(id, started);
    return id;
  }

  /** The async call `id` answered after `ms`, or failed. */
  settle(id: number, ms: number, failed: boolean): void {
    this.inFlight.delete(id);
    this.record(ms, failed);
  }

  /** The async call `id` ended in a fleet's redirect: it runs again elsewhere and counts there, not here. */
  withdraw(id: number): void {
    this.inFlight.delete(id);
  }

  /** Async calls started before `before` (ms, monotonic) that have not answered. */
  stalled(before: number): number {
    let n = 0;
    for (const started of this.inFlight.values()) if (started < before) n++;
    return n;
  }

  record(ms: number, failed: boolean): void {
    this.calls++;
    if (failed) this.errors++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
    this.buckets[i]!++;
  }
}

/** Counts of several CallStats taken together (a version's handlers), with a quantile from the buckets. */
export interface CallTotals {
  calls: number;
  errors: number;
  buckets: Float64Array;
  /** The slowest call of these stats over their life (an upper bound for any part of them); absent: unknown. */
  maxMs?: number;
}

export function totals(stats: Iterable<CallStats>): CallTotals {
  const out: CallTotals = { calls: 0, errors: 0, buckets: new Float64Array(LATENCY_BUCKETS_MS.length + 1), maxMs: 0 };
  for (const s of stats) {
    out.maxMs = Math.max(out.maxMs!, s.maxMs);
    out.calls += s.calls;
    out.errors += s.errors;
    for (let i = 0; i < s.buckets.length; i++) out.buckets[i]! += s.buckets[i]!;
  }
  return out;
}

/** The difference of two totals taken at two times (what happened between them). */
export function since(now: CallTotals, before: CallTotals): CallTotals {
  const buckets = new Float64Array(now.buckets.length);
  for (let i = 0; i < buckets.length; i++) buckets[i] = now.buckets[i]! - before.buckets[i]!;
  return { calls: now.calls - before.calls, errors: now.errors - before.errors, buckets, ...(now.maxMs !== undefined ? { maxMs: now.maxMs } : {}) };
}

/** The time under which a share `q` of the calls finished (an upper estimate, in ms): its bucket's bound, or the slowest call if that is less. */
export function quantileMs(t: CallTotals, q: number): number {
  const count = t.buckets.reduce((a, b) => a + b, 0);
  if (count === 0) return 0;
  const slowest = t.maxMs === undefined ? Infinity : Math.ceil(t.maxMs * 100) / 100;
  let seen = 0;
  for (let i = 0; i < t.buckets.length; i++) {
    seen += t.buckets[i]!;
    if (seen >= q * count) return Math.min(LATENCY_BUCKETS_MS[i] ?? LATENCY_BUCKETS_MS.at(-1)! * 2, slowest);
  }
  return Math.min(LATENCY_BUCKETS_MS.at(-1)! * 2, slowest);
}

/** Versions of each module whose stats are kept (the live ones and a few before them). */
const VERSIONS_KEPT = 5;

export class CallStatsBook {
  private readonly byVersion = new Map<string, Map<number, Map<string, CallStats>>>();

  /** The stats of `handler` in `version`, made on its first call. */
  for(handler: string, version: ModuleVersion): CallStats {
    let versions = this.byVersion.get(version.module);
    if (!versions) this.byVersion.set(version.module, (versions = new Map()));
    let handlers = versions.get(version.version);
    if (!handlers) {
      versions.set(version.version, (handlers = new Map()));
      // Oldest first out, so a server patched a thousand times reports a bounded set of series.
      while (versions.size > VERSIONS_KEPT) versions.delete(versions.keys().next().value!);
    }
    let stats = handlers.get(handler);
    if (!stats) handlers.set(handler, (stats = new CallStats(handler, version.module, version.version)));
    return stats;
  }

  /** Every handler's stats of one module version. */
  ofVersion(module: string, version: number): CallStats[] {
    return [...(this.byVersion.get(module)?.get(version)?.values() ?? [])];
  }

  *all(): Generator<CallStats> {
    for (const versions of this.byVersion.values()) for (const handlers of versions.values()) yield* handlers.values();
  }
}
