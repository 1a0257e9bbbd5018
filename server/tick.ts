import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { createLogger } from './log.ts';
import { longRunSince } from './patch/busy.ts';
import { hostClearTimeout, hostSetTimeout, monoNow } from './host-globals.ts';

// A fixed-rate loop: it aims at start + n * period, so a slow tick does not
// shift every later one, and a tick that overruns its period, or starts a
// period or more late because something else held the event loop, is counted
// and reported (at most every few seconds) with what held it, instead of
// silently slowing the game.

// The host's own timers and clock (host-globals.ts): game logic replacing the
// globals (or performance.now) later cannot stop the tick loop.
const clock = monoNow;

/** `dt` never exceeds this many periods: after a long stall the world moves as if this much time passed. */
export const MAX_DT_PERIODS = 5;
/** A tick that starts this late (and at least two periods late) counts as an overrun: the loop was held. */
const LATE_MS = 100;

export interface TickStats {
  hz: number;
  ticks: number;
  /** Ticks that took longer than their period, plus ticks that started late (over 2 periods and 100 ms). */
  overruns: number;
  /** Of the overruns, the ticks that started late (the event loop was busy elsewhere). */
  late: number;
  lastMs: number;
  avgMs: number;
  maxMs: number;
  /** The last stall that made a tick late: what held the loop (when known) and for how long. */
  lastStall: { cause: string; ms: number; at: string } | null;
  /** Event loop delay since start, in ms: how late the tick timer fired, its 99th percentile and the worst. */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

export class TickLoop {
  readonly stats: TickStats;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private startedAt = 0;
  private lastAt = 0;
  private n = 0;
  private lastWarn = -Infinity;
  private readonly period: number;
  private readonly log = createLogger('tick');
  // The tick's own timer is the event loop's delay probe: a monitorEventLoopDelay would
  // add a timer of its own, and on a small VM each wake-up of the loop costs more than
  // a quiet server's whole tick.
  private readonly delay: RecordableHistogram = createHistogram();

  constructor(
    hz: number,
    private readonly onTick: (dtSeconds: number) => void,
  ) {
    if (!(hz > 0 && hz <= 1000)) throw new Error(`tick rate must be between 1 and 1000 Hz, got ${hz}`);
    this.period = 1000 / hz;
    const delay = this.delay;
    // The delay's figures are worked out when read (a status, a scrape): a percentile per tick cost more than a quiet room's sync.
    this.stats = {
      hz,
      ticks: 0,
      overruns: 0,
      late: 0,
      lastMs: 0,
      avgMs: 0,
      maxMs: 0,
      lastStall: null,
      get loopDelayP99Ms() {
        return delay.count === 0 ? 0 : Math.round(delay.percentile(99) / 10) / 100;
      },
      get loopDelayMaxMs() {
        return delay.count === 0 ? 0 : Math.round(delay.max / 10) / 100;
      },
    };
  }

  start(): void {
    this.startedAt = clock();
    this.lastAt = this.startedAt;
    this.n = 0;
    this.delay.reset();
    this.schedule();
  }

  stop(): void {
    hostClearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.n++;
    const due = this.startedAt + this.n * this.period;
    this.timer = hostSetTimeout(() => this.run(due), Math.max(0, due - clock()));
  }

  private run(due: number): void {
    const begin = clock();
    const dt = Math.min(begin - this.lastAt, MAX_DT_PERIODS * this.period) / 1000;
    this.lastAt = begin;
    const s = this.stats;
    const lateBy = begin - due;
    // In microseconds, at least 1 (the histogram records positive integers); a timer fires up to a millisecond early or late.
    this.delay.record(Math.max(1, Math.round(lateBy * 1000)));
    if (lateBy >= Math.max(2 * this.period, LATE_MS)) {
      s.overruns++;
      s.late++;
      const culprit = longRunSince(due - this.period);
      s.lastStall = { cause: culprit ? culprit.name : 'unknown: no handler, hook or timer was running (logic after an await or in a promise callback, the host, GC or the machine)', ms: Math.round(lateBy), at: new Date().toISOString() };
      this.warn(begin, `tick started ${lateBy.toFixed(0)} ms late: the event loop was busy${culprit ? ` with ${culprit.name} (${culprit.ms.toFixed(0)} ms)` : ''} (${s.overruns} overruns so far)`);
    }
    try {
      this.onTick(dt);
    } catch (err) {
      this.log.error(`tick failed: ${(err as Error).message}`);
    }
    const took = clock() - begin;
    s.ticks++;
    s.lastMs = took;
    s.avgMs += (took - s.avgMs) / Math.min(s.ticks, 100);
    s.maxMs = Math.max(s.maxMs, took);
    if (took > this.period) {
      s.overruns++;
      this.warn(begin, `tick took ${took.toFixed(1)} ms, over its ${this.period.toFixed(1)} ms budget (${s.overruns} overruns so far)`);
    }
    // Fell behind by more than a period: skip the missed ticks rather than bursting through them.
    const behind = Math.floor((clock() - (this.startedAt + this.n * this.period)) / this.period);
    if (behind > 0) this.n += behind;
    if (this.timer !== undefined) this.schedule();
  }

  private warn(now: number, message: string): void {
    if (now - this.lastWarn < 5000) return;
    this.lastWarn = now;
    this.log.warn(message);
  }
}
