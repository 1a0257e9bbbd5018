import { Worker } from 'node:worker_threads';
import { createLogger, logEnabled, logFd, logIsJson } from '../log.ts';
import { hostSetInterval, monoNow } from '../host-globals.ts';

// Logic runs on the one event loop that serves every player: a handler busy
// for 3 s makes everyone wait 3 s. Reading the clock around every call costs
// more than the call itself on some machines, so a watchdog thread does the
// timing instead: the main thread only marks which run is in progress (a few
// shared-memory writes), and the watchdog, looking every POLL_MS (every
// IDLE_POLL_MS while no run is in progress), flags a run still in progress
// after BUSY_MS, and prints a line while one has been running over STUCK_MS
// (an endless loop gets named even though the main thread never comes
// back). When a flagged run ends it is logged with its
// name (at most every few seconds per name) and remembered, so that the tick
// loop can say which run made a tick late. Process-wide, like the event loop.

/** A synchronous run of logic longer than this is reported. */
export const BUSY_MS = 250;
const STUCK_MS = 2000;
const POLL_MS = 25;
/** Between looks while no run is in progress: most looks, so most of the watchdog's cost. */
const IDLE_POLL_MS = 50;
const LOG_EVERY_MS = 5000;

// Shared slots: the run in progress (a sequence number and a name id, 0 when
// none), and the run the watchdog flagged with how long it had been running.
const SEQ = 0;
const NAME = 1;
const FLAGGED = 2;
const FLAGGED_MS = 3;
// A counter the main thread bumps every BEAT_MS while its event loop turns,
// and 1 while the server is starting (loading its logic).
const BEAT = 4;
const STARTING = 5;
const SLOTS = 6;
const BEAT_MS = 100;

// What to do about a loop that never ends. Written by the watchdog thread, as
// the main thread cannot write anything then.
const WAY_OUT_STARTING =
  ' The server is still starting: a logic module may loop forever after an await at its top level (a time limit cannot stop that). Kill the process (it cannot stop cleanly while it loops), fix the module, and start again with --from-disk so that the live code saved in the data folder is not restored (or, if the saved code is the good one, just restart and rebind rollback the module).';
const WAY_OUT_RUNNING =
  ' If it began right after a patch, the patch\'s module loops after an await at its top level or in a promise callback: kill the process, fix the module, and start with --from-disk (the patched code was saved as the live code and would come back).';

const WATCHDOG = `
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const slots = new Int32Array(workerData.buffer);
// The log's own shape on the log's one stream (log.ts): a pino JSON line when stdout is not a terminal.
const warn = (msg) => workerData.quiet || writeSync(workerData.fd, workerData.json ? JSON.stringify({ level: 40, time: new Date().toISOString(), pid: workerData.pid, scope: 'busy', msg }) + '\\n' : 'warn  [busy] ' + msg + '\\n');
const names = new Map();
let seenSeq = -1, since = 0, toldAt = 0, seenBeat = -1, beatAt = Date.now(), blockTold = 0, polledAt = Date.now(), runAt = 0;
const wayOut = () => Atomics.load(slots, ${STARTING}) === 1 ? ${JSON.stringify(WAY_OUT_STARTING)} : '';
// Returns how long to sleep before the next look.
function poll() {
  const seq = Atomics.load(slots, ${SEQ}), id = Atomics.load(slots, ${NAME}), now = Date.now();
  const before = polledAt;
  polledAt = now;
  const beat = Atomics.load(slots, ${BEAT});
  // A run in progress, or one that began since the last look: the loop was not blocked by other code until then
  // (a long handler is named on its own; what follows it, a commit, is counted from its end).
  if (id !== 0 || seq !== seenSeq) runAt = now;
  const blocked = now - Math.max(beatAt, runAt);
  if (beat !== seenBeat) { seenBeat = beat; beatAt = now; blockTold = 0; }
  else if (id === 0 && beat !== 0 && blocked >= ${STUCK_MS} && now - blockTold >= ${LOG_EVERY_MS}) {
    // Blocked, but by no handler, hook or timer the host called: code queued by logic (a promise callback, an await), or the host's own work.
    blockTold = now;
    try { warn('the event loop has been blocked for ' + blocked + ' ms by code outside any handler, hook or timer (most likely game logic run from a promise callback or after an await; else the server\\'s own work, such as committing or syncing a very large write): every player and the tick loop are waiting.' + (wayOut() || ${JSON.stringify(WAY_OUT_RUNNING)})); } catch {}
  }
  if (id === 0) { seenSeq = seq; return ${IDLE_POLL_MS}; }
  // A run seen for the first time began after the previous look: count from there (at most a look's interval too long).
  if (seq !== seenSeq) { seenSeq = seq; since = before; toldAt = 0; return ${POLL_MS}; }
  const ms = now - since;
  if (ms < ${BUSY_MS}) return ${POLL_MS};
  Atomics.store(slots, ${FLAGGED_MS}, ms);
  Atomics.store(slots, ${FLAGGED}, seq);
  if (ms >= ${STUCK_MS} && now - toldAt >= ${LOG_EVERY_MS}) {
    toldAt = now;
    try { warn((names.get(id) || 'game logic') + ' has been running for ' + ms + ' ms and still is: every player and the tick loop are waiting.' + wayOut()); } catch {}
  }
  return ${POLL_MS};
}
// A loop asleep in Atomics.wait, not a timer: this thread has no event loop to turn, and
// each wake-up costs half of what a libuv timer's does.
const nap = new Int32Array(new SharedArrayBuffer(4));
for (let sleep = ${POLL_MS}; ; ) {
  Atomics.wait(nap, 0, 0, sleep);
  for (let m; (m = receiveMessageOnPort(parentPort)); ) names.set(m.message[0], m.message[1]);
  sleep = poll();
}
`;

export interface BusyRun {
  /** The handler or hook, e.g. `chat.say` or `arena.tick`. */
  name: string;
  ms: number;
  /** monoNow() when the run ended. */
  endedAt: number;
}

const log = createLogger('busy');
const loggedAt = new Map<string, number>();
const ids = new Map<string, number>();
let slots: Int32Array | undefined;
let watchdog: Worker | undefined;
let last: BusyRun | undefined;
let count = 0;

/** Starts the watchdog thread (once per process; the host does it at creation, so it is up before the first call). */
export function startWatchdog(): Int32Array {
  if (slots) return slots;
  const buffer = new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT);
  const s = (slots = new Int32Array(buffer));
  watchdog = new Worker(WATCHDOG, { eval: true, workerData: { buffer, json: logIsJson(), quiet: !logEnabled('warn'), fd: logFd(), pid: process.pid } });
  watchdog.unref();
  // The first beat now, not BEAT_MS from now: logic that blocks the loop
  // before the interval first fires (a module looping after an await at its
  // top level, during the start) must still be named.
  s[BEAT] = 1;
  hostSetInterval(() => {
    s[BEAT] = (s[BEAT]! + 1) | 0 || 1;
  }, BEAT_MS).unref();
  watchdog.on('error', (err) => log.error(`the busy watchdog stopped: ${err.message}`));
  return slots;
}

/** A small number standing for `name` in the shared slots (the watchdog learns the name once). */
export function runId(name: string): number {
  let id = ids.get(name);
  if (id === undefined) {
    if (!watchdog) startWatchdog();
    ids.set(name, (id = ids.size + 1));
    watchdog!.postMessage([id, name]);
  }
  return id;
}

// Plain (not Atomics) reads and writes on the main thread's side: an aligned
// 32-bit store cannot tear, the watchdog only needs to see it eventually, and
// these run around every call.

/** Whether a run of logic is being watched now (a nested call is part of it, not a run of its own). */
export function runInProgress(): boolean {
  return slots !== undefined && slots[NAME] !== 0;
}

/** Marks the start of an outermost run of logic (`id` from runId); returns its token for runEnded. */
export function runStarted(id: number): number {
  const s = slots ?? startWatchdog();
  const seq = (s[SEQ]! + 1) | 0 || 1;
  s[NAME] = id;
  s[SEQ] = seq;
  return seq;
}

/** Marks the server as starting (its logic loading) or started: a hang then gets a way out in the watchdog's line. */
export function markStarting(starting: boolean): void {
  (slots ?? startWatchdog())[STARTING] = starting ? 1 : 0;
}

/** Forgets the run in progress without reporting it: logic stopped by a time limit runs no `finally`, so runEnded never came. */
export function abandonRun(): void {
  if (slots) slots[NAME] = 0;
}

/** Marks the end of the run `seq`; if the watchdog flagged it, records and reports it. */
export function runEnded(seq: number, name: string): void {
  const s = slots!;
  s[NAME] = 0;
  if (s[FLAGGED] === seq) noteRun(name, s[FLAGGED_MS]!);
}

/** Records a run of at least `ms` that ended now, if it was long enough to matter. */
export function noteRun(name: string, ms: number): void {
  if (ms < BUSY_MS) return;
  const now = monoNow();
  last = { name, ms, endedAt: now };
  count++;
  if (now - (loggedAt.get(name) ?? -Infinity) < LOG_EVERY_MS) return;
  loggedAt.set(name, now);
  log.warn(`${name} kept the event loop busy for about ${ms} ms: every player and the tick loop waited (keep handlers short; split big work over ticks or ctx.schedule)`);
}

/** The last long run that ended after `since` (monoNow() time), if any. */
export function longRunSince(since: number): BusyRun | undefined {
  return last && last.endedAt >= since ? last : undefined;
}

/** How many long runs there were, and the last one. */
export function busyStats(): { count: number; last: { name: string; ms: number } | null } {
  return { count, last: last ? { name: last.name, ms: Math.round(last.ms) } : null };
}
