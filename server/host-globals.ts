// The host's own timers, clock and scheduling functions, taken once when this
// file loads (before any game code runs). Host code uses these instead of the
// globals, so that nothing game logic does to the global names (a bare
// `setImmediate = …`, `Date.now = …`, `performance.now = …`, or the real global
// object dug out on purpose) can silence the journal writer, snapshots, the
// network's timers or the tick loop. Logic's own scope shadows these names as
// well (patch/logic-scope.ts); this is the second line.

export const hostSetTimeout = globalThis.setTimeout;
export const hostClearTimeout = globalThis.clearTimeout;
export const hostSetInterval = globalThis.setInterval;
export const hostClearInterval = globalThis.clearInterval;
export const hostSetImmediate = globalThis.setImmediate;
export const hostClearImmediate = globalThis.clearImmediate;
export const hostQueueMicrotask = globalThis.queueMicrotask;
export const hostNextTick: typeof process.nextTick = process.nextTick.bind(process);
/** Wall-clock milliseconds (Date.now), as it was when the host loaded. */
export const wallNow: () => number = Date.now.bind(Date);
/** Monotonic milliseconds (performance.now), as it was when the host loaded. */
export const monoNow: () => number = performance.now.bind(performance);
