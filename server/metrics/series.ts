import type { CallStatsBook } from './call-stats.ts';
import { quantileMs, since, totals, type CallTotals } from './call-stats.ts';

// The dashboard's charts over time: at most once a second, what each module
// version did since the point before (calls/s, errors/s, p99), with the tick
// time and the players online. The tick loop offers a point every tick
// (sample() returns at once until a second has passed), so the charts have
// the last SAMPLES seconds however long ago the dashboard was opened. The
// admin channel's `series` action hands them out.

const SAMPLES = 300;

export interface VersionPoint {
  /** "shop v2" */
  key: string;
  calls: number;
  errors: number;
  p99Ms: number;
}

export interface SeriesPoint {
  /** Unix time in seconds. */
  t: number;
  tickMs: number;
  players: number;
  versions: VersionPoint[];
}

export class Series {
  private readonly points: SeriesPoint[] = [];
  private readonly previous = new Map<string, CallTotals>();
  private lastAt = 0;

  constructor(
    private readonly callStats: CallStatsBook,
    private readonly read: () => { tickMs: number; players: number },
    private readonly minGapMs = 900,
  ) {}

  /** Adds one point, unless the last is less than minGapMs old: per module version, what happened since the last point. */
  sample(): void {
    const now = performance.now();
    if (now - this.lastAt < this.minGapMs) return;
    // The first call only takes the baseline: the totals so far are a lifetime's (all calls since start), not one second's.
    const first = this.lastAt === 0;
    const seconds = (now - this.lastAt) / 1000;
    this.lastAt = now;
    const byVersion = new Map<string, ReturnType<CallStatsBook['ofVersion']>>();
    for (const stats of this.callStats.all()) {
      const key = `${stats.module} v${stats.version}`;
      (byVersion.get(key) ?? byVersion.set(key, []).get(key)!).push(stats);
    }
    if (first) {
      for (const [key, stats] of byVersion) this.previous.set(key, totals(stats));
      return;
    }
    const versions: VersionPoint[] = [];
    for (const [key, stats] of byVersion) {
      const current = totals(stats);
      const before = this.previous.get(key);
      this.previous.set(key, current);
      const delta = before ? since(current, before) : current;
      // A version that did nothing this second is left out (its line has a gap, not a zero, once it is gone).
      if (delta.calls === 0 && before) continue;
      const round = (n: number) => Math.round(n * 10) / 10;
      versions.push({ key, calls: round(delta.calls / seconds), errors: round(delta.errors / seconds), p99Ms: quantileMs(delta, 0.99) });
    }
    const { tickMs, players } = this.read();
    this.points.push({ t: Date.now() / 1000, tickMs, players, versions });
    if (this.points.length > SAMPLES) this.points.splice(0, this.points.length - SAMPLES);
  }

  list(): SeriesPoint[] {
    return this.points;
  }
}
