import { setMaxListeners } from 'node:events';
import * as realTimerPromises from 'node:timers/promises';
import vm from 'node:vm';
import { isRebindError, rebindError, RebindError } from '../errors.ts';
import { hostClearImmediate, hostClearInterval, hostClearTimeout, hostNextTick, hostQueueMicrotask, hostSetImmediate, hostSetInterval, hostSetTimeout } from '../host-globals.ts';
import { eventsFor, withStop } from './logic-events.ts';
import { OwnedListeners } from './logic-process.ts';
import { guardRequire, logicBuiltins, versionScope } from './logic-scope.ts';
import { locateError, mapStack } from './sourcemaps.ts';
import { TimeLimitExceeded, withTimeLimit } from './time-limit.ts';

// Evaluates a CommonJS bundle without Node's module cache. Measured on Node
// 20: code compiled by vm.compileFunction is freed once nothing references
// its functions, while vm.Script, `new Function`, require.cache tricks and
// `import(url + '?v=N')` keep every version alive. The compiled function gets
// its own setTimeout, setInterval and process, so each version's raw timers
// and listeners on process are known and can be cleared when it is disposed.

type TimerHandle = ReturnType<typeof setTimeout>;


/**
 * The raw timers of one module version, and its listeners on `process`. When
 * the version is retired, its intervals stop and its listeners are removed at
 * once; one-shot timeouts may still fire for a grace period, so that a call
 * that started on that version and awaits a delay can finish, and after it
 * every timer left is cleared and no new one starts.
 */
export class TrackedTimers {
  readonly listeners: OwnedListeners;
  private readonly live = new Map<TimerHandle, 'timeout' | 'interval'>();
  // What node:timers/promises started for the version: its intervals end when it is retired, the rest after the grace.
  private readonly intervalsStop = new AbortController();
  private readonly allStop = new AbortController();

  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly onRefused: (kind: string) => void = () => undefined,
  ) {
    this.listeners = new OwnedListeners(onError);
    // Each pending timer listens on these: a version awaiting more than ten at once is not a leak.
    setMaxListeners(0, this.intervalsStop.signal, this.allStop.signal);
  }

  private retired = false;
  private closed = false;

  private guard(fn: unknown, args: unknown[]): () => void {
    return () => {
      try {
        if (typeof fn === 'function') fn(...args);
      } catch (err) {
        this.onError(err);
      }
    };
  }

  // What the version queues for right after the current run: a throw in it is reported against its
  // module, as a throwing timer's is (Node would rethrow it as an uncaught exception).
  readonly setImmediate = (fn: unknown, ...args: unknown[]): ReturnType<typeof hostSetImmediate> => hostSetImmediate(typeof fn === 'function' ? this.guard(fn, args) : (fn as () => void));
  readonly queueMicrotask = (fn: unknown): void => hostQueueMicrotask(typeof fn === 'function' ? this.guard(fn, []) : (fn as () => void));
  readonly nextTick = (fn: unknown, ...args: unknown[]): void => hostNextTick(typeof fn === 'function' ? this.guard(fn, args) : (fn as () => void));

  readonly setTimeout = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle | undefined => {
    if (this.closed) return this.refuse('setTimeout');
    const run = this.guard(fn, args);
    const handle: TimerHandle = hostSetTimeout(() => {
      this.live.delete(handle);
      run();
    }, ms);
    this.live.set(handle, 'timeout');
    return handle;
  };

  readonly setInterval = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle | undefined => {
    if (this.retired) return this.refuse('setInterval');
    const handle = hostSetInterval(this.guard(fn, args), ms);
    this.live.set(handle, 'interval');
    return handle;
  };

  readonly clear = (handle: TimerHandle | undefined): void => {
    if (handle === undefined) return;
    this.live.delete(handle);
    hostClearTimeout(handle);
  };

  private refuse(kind: string): undefined {
    this.onRefused(kind);
    return undefined;
  }

  get count(): number {
    return this.live.size;
  }

  /**
   * Stops the intervals and removes the listeners now, and every other timer
   * after `graceMs` (calling `onLeftover` with how many were still pending
   * then); returns how many intervals were running and listeners were left.
   */
  retire(graceMs: number, onLeftover: (count: number) => void = () => undefined): { intervals: number; listeners: number } {
    this.retired = true;
    const listeners = this.listeners.close();
    this.intervalsStop.abort(new Error('its module version was replaced: its intervals stopped'));
    let intervals = 0;
    for (const [handle, kind] of this.live) {
      if (kind !== 'interval') continue;
      hostClearInterval(handle);
      this.live.delete(handle);
      intervals++;
    }
    if (graceMs <= 0) this.clearAll();
    else
      hostSetTimeout(() => {
        const left = this.clearAll();
        if (left > 0) onLeftover(left);
      }, graceMs).unref();
    return { intervals, listeners };
  }

  /** Clears every timer still pending (and every listener) and refuses new ones; returns how many timers there were. */
  clearAll(): number {
    this.retired = true;
    this.closed = true;
    this.listeners.close();
    this.intervalsStop.abort(new Error('its module version stopped: its timers stopped'));
    this.allStop.abort(new Error('its module version stopped: its timers stopped'));
    const n = this.live.size;
    for (const handle of this.live.keys()) hostClearTimeout(handle);
    this.live.clear();
    return n;
  }

  /** node:timers as the version sees it: its own tracked timers. */
  timersModule(): Record<string, unknown> & { promises: Record<string, unknown> } {
    return { setTimeout: this.setTimeout, setInterval: this.setInterval, clearTimeout: this.clear, clearInterval: this.clear, setImmediate: this.setImmediate, clearImmediate: hostClearImmediate, promises: this.timerPromises() };
  }

  /** node:timers/promises as the version sees it: what it starts is aborted when the version stops. */
  timerPromises(): Record<string, unknown> {
    type Options = Parameters<typeof realTimerPromises.setTimeout>[2];
    const all = this.allStop.signal;
    return {
      setTimeout: (ms?: number, value?: unknown, options?: unknown) => realTimerPromises.setTimeout(ms, value, withStop(options, all) as Options),
      setImmediate: (value?: unknown, options?: unknown) => realTimerPromises.setImmediate(value, withStop(options, all) as Options),
      setInterval: (ms?: number, value?: unknown, options?: unknown) => realTimerPromises.setInterval(ms, value, withStop(options, this.intervalsStop.signal) as Options),
      scheduler: { wait: (ms: number, options?: unknown) => realTimerPromises.scheduler.wait(ms, withStop(options, all) as Options), yield: () => realTimerPromises.scheduler.yield() },
    };
  }

  /** node:events as the version sees it (logic-events.ts): its once() and on() give up when the version stops, as its timers do. */
  eventsModule(): typeof import('node:events') {
    return eventsFor(this.allStop.signal, this.intervalsStop.signal);
  }
}

export type HostRequire = (specifier: string) => unknown;

const BUILTIN_NAMES = Object.keys(logicBuiltins);
const BUILTIN_VALUES = BUILTIN_NAMES.map((name) => logicBuiltins[name]);
const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'setImmediate', 'queueMicrotask', 'process', 'globalThis', 'global', ...BUILTIN_NAMES];

// Bundles are CommonJS (esbuild), which would run in sloppy mode; game code is
// written as ES modules, which are strict. So every bundle runs strict: an
// undeclared assignment (`score = 5`) throws a ReferenceError instead of
// making a real global, and `this` in a plain function is undefined, not the
// global object. The directive takes a line of its own, and lineOffset -1
// keeps stack lines where the source map expects them.
const STRICT = '"use strict";\n';

/** How long a module's top level may run before the patch is refused (see time-limit.ts). */
export const DEFAULT_TIME_LIMIT_MS = 2000;

/**
 * Runs a bundle's top level and returns its exports, under a time limit. A
 * throw at top level becomes PATCH_EVAL_ERROR located in the TypeScript source
 * (`sourceName` is the entry file, used when no frame can be mapped); a coded
 * error keeps its code and gains the location.
 */
export function evaluateBundle(code: string, url: string, sourceName: string, require: HostRequire, timers: TrackedTimers, timeLimitMs = DEFAULT_TIME_LIMIT_MS): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  try {
    const fn = vm.compileFunction(STRICT + code, PARAMS, { filename: url, lineOffset: -1 });
    const queued = { setImmediate: timers.setImmediate, queueMicrotask: timers.queueMicrotask, nextTick: timers.nextTick };
    const scope = versionScope(timers.listeners, timers.timersModule(), timers.eventsModule(), queued);
    const guarded = guardRequire(require, scope.builtins);
    withTimeLimit(timeLimitMs, () =>
      fn.call(module.exports, module.exports, guarded, module, url, '', timers.setTimeout, timers.setInterval, timers.clear, timers.clear, timers.setImmediate, timers.queueMicrotask, scope.process, scope.global, scope.global, ...BUILTIN_VALUES),
    );
  } catch (err) {
    if (err instanceof TimeLimitExceeded) {
      // Code stopped by the time limit leaves no stack, so the line of the loop is not known; no
      // location (a code frame at line 1 would point at the wrong place), the file in the message.
      throw rebindError('PATCH_TIME_LIMIT', `${sourceName}: its top level ${err.message} (an endless loop? the line is not known: code stopped by the time limit leaves no stack); a module's top level should only define functions`, {
        details: { file: sourceName, limitMs: err.limitMs },
      });
    }
    const location = locateError(err);
    const where = location ? `${location.file}:${location.line}:${location.column}` : sourceName;
    if (isRebindError(err)) {
      if (err.location) throw err;
      const message = err.message.startsWith(sourceName) ? err.message : `${where}: ${err.message}`;
      throw new RebindError(err.code, message, { ...(location ? { location } : {}), details: { ...err.details, stack: err.stack ? mapStack(err.stack) : err.message } });
    }
    const message = err instanceof Error ? err.message : String(err);
    throw rebindError('PATCH_EVAL_ERROR', `${where}: threw while loading: ${message}`, {
      ...(location ? { location } : {}),
      details: { stack: err instanceof Error && err.stack ? mapStack(err.stack) : message },
    });
  }
  return module.exports;
}
