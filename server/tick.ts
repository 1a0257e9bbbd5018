import { createLogger } from './log.ts';

// A fixed-rate loop: it aims at start + n * period, so a slow tick does not
// shift every later one, and a tick that overruns its period is counted and
// reported (at most every few seconds) instead of silently slowing the game.

export interface TickStats {
  hz: number;
  ticks: number;
  overruns: number;
  lastMs: number;
  avgMs: number;
  maxMs: number;
}

export class TickLoop {
  readonly stats: TickStats;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private startedAt = 0;
  private lastAt = 0;
  private n = 0;
  private lastWarn = 0;
  private readonly period: number;
  private readonly log = createLogger('tick');

  constructor(
    hz: number,
    private readonly onTick: (dtSeconds: number) => void,
  ) {
    if (!(hz > 0 && hz <= 1000)) throw new Error(`tick rate must be between 1 and 1000 Hz, got ${hz}`);
    this.period = 1000 / hz;
    this.stats = { hz, ticks: 0, overruns: 0, lastMs: 0, avgMs: 0, maxMs: 0 };
  }

  start(): void {
    this.startedAt = performance.now();
    this.lastAt = this.startedAt;
    this.n = 0;
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.n++;
    const due = this.startedAt + this.n * this.period;
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    const begin = performance.now();
    const dt = (begin - this.lastAt) / 1000;
    this.lastAt = begin;
    try {
      this.onTick(dt);
    } catch (err) {
      this.log.error(`tick failed: ${(err as Error).message}`);
    }
    const took = performance.now() - begin;
    const s = this.stats;
    s.ticks++;
    s.lastMs = took;
    s.avgMs += (took - s.avgMs) / Math.min(s.ticks, 100);
    s.maxMs = Math.max(s.maxMs, took);
    if (took > this.period) {
      s.overruns++;
      if (begin - this.lastWarn > 5000) {
        this.lastWarn = begin;
        this.log.warn(`tick took ${took.toFixed(1)} ms, over its ${this.period.toFixed(1)} ms budget (${s.overruns} overruns so far)`);
      }
    }
    // Fell behind by more than a period: skip the missed ticks rather than bursting through them.
    const behind = Math.floor((performance.now() - (this.startedAt + this.n * this.period)) / this.period);
    if (behind > 0) this.n += behind;
    if (this.timer !== undefined) this.schedule();
  }
}
