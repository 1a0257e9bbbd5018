import { createLogger } from '../log.ts';

// Logic runs on the one event loop that serves every player: a handler busy
// for 3 s makes everyone wait 3 s. Every synchronous run of logic is timed;
// a run longer than BUSY_MS is logged with its name (at most every few
// seconds per name) and remembered, so that the tick loop can say which run
// made a tick late. The record is process-wide because the event loop is.

/** A synchronous run of logic longer than this is reported. */
export const BUSY_MS = 250;
const LOG_EVERY_MS = 5000;

export interface BusyRun {
  /** The handler or hook, e.g. `chat.say` or `arena.tick`. */
  name: string;
  ms: number;
  /** performance.now() when the run ended. */
  endedAt: number;
}

const log = createLogger('busy');
const loggedAt = new Map<string, number>();
let last: BusyRun | undefined;
let count = 0;

/** Records a run of `ms` that ended now, if it was long enough to matter. */
export function noteRun(name: string, ms: number): void {
  if (ms < BUSY_MS) return;
  const now = performance.now();
  last = { name, ms, endedAt: now };
  count++;
  if (now - (loggedAt.get(name) ?? -Infinity) < LOG_EVERY_MS) return;
  loggedAt.set(name, now);
  log.warn(`${name} kept the event loop busy for ${ms.toFixed(0)} ms: every player and the tick loop waited (keep handlers short; split big work over ticks or ctx.schedule)`);
}

/** The last long run that ended after `since` (performance.now() time), if any. */
export function longRunSince(since: number): BusyRun | undefined {
  return last && last.endedAt >= since ? last : undefined;
}

/** How many long runs there were, and the last one. */
export function busyStats(): { count: number; last: { name: string; ms: number } | null } {
  return { count, last: last ? { name: last.name, ms: Math.round(last.ms) } : null };
}
