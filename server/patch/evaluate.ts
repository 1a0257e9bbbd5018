import vm from 'node:vm';
import { isRebindError, rebindError } from '../errors.ts';
import { locateError, mapStack } from './sourcemaps.ts';

// Evaluates a CommonJS bundle without Node's module cache. Measured on Node
// 20: code compiled by vm.compileFunction is freed once nothing references
// its functions, while vm.Script, `new Function`, require.cache tricks and
// `import(url + '?v=N')` keep every version alive. The compiled function gets
// its own setTimeout and setInterval, so each version's raw timers are known
// and can be cleared when it is disposed.

type TimerHandle = ReturnType<typeof setTimeout>;

/**
 * The raw timers of one module version. When the version is retired, its
 * intervals stop at once; one-shot timeouts may still fire for a grace period,
 * so that a call that started on that version and awaits a delay can finish,
 * and after it every timer left is cleared and no new one starts.
 */
export class TrackedTimers {
  private readonly live = new Map<TimerHandle, 'timeout' | 'interval'>();
  private retired = false;
  private closed = false;

  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly onRefused: (kind: string) => void = () => undefined,
  ) {}

  private guard(fn: unknown, args: unknown[]): () => void {
    return () => {
      try {
        if (typeof fn === 'function') fn(...args);
      } catch (err) {
        this.onError(err);
      }
    };
  }

  readonly setTimeout = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle | undefined => {
    if (this.closed) return this.refuse('setTimeout');
    const run = this.guard(fn, args);
    const handle: TimerHandle = globalThis.setTimeout(() => {
      this.live.delete(handle);
      run();
    }, ms);
    this.live.set(handle, 'timeout');
    return handle;
  };

  readonly setInterval = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle | undefined => {
    if (this.retired) return this.refuse('setInterval');
    const handle = globalThis.setInterval(this.guard(fn, args), ms);
    this.live.set(handle, 'interval');
    return handle;
  };

  readonly clear = (handle: TimerHandle | undefined): void => {
    if (handle === undefined) return;
    this.live.delete(handle);
    globalThis.clearTimeout(handle);
  };

  private refuse(kind: string): undefined {
    this.onRefused(kind);
    return undefined;
  }

  get count(): number {
    return this.live.size;
  }

  /**
   * Stops the intervals now and every other timer after `graceMs` (calling
   * `onLeftover` with how many were still pending then); returns how many
   * intervals were running.
   */
  retire(graceMs: number, onLeftover: (count: number) => void = () => undefined): number {
    this.retired = true;
    let intervals = 0;
    for (const [handle, kind] of this.live) {
      if (kind !== 'interval') continue;
      globalThis.clearInterval(handle);
      this.live.delete(handle);
      intervals++;
    }
    if (graceMs <= 0) this.clearAll();
    else
      globalThis
        .setTimeout(() => {
          const left = this.clearAll();
          if (left > 0) onLeftover(left);
        }, graceMs)
        .unref();
    return intervals;
  }

  /** Clears every timer still pending and refuses new ones; returns how many there were. */
  clearAll(): number {
    this.retired = true;
    this.closed = true;
    const n = this.live.size;
    for (const handle of this.live.keys()) globalThis.clearTimeout(handle);
    this.live.clear();
    return n;
  }
}

export type HostRequire = (specifier: string) => unknown;

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'];

/**
 * Runs a bundle's top level and returns its exports. A throw at top level
 * becomes PATCH_EVAL_ERROR located in the TypeScript source (`sourceName` is
 * the entry file, used when no frame can be mapped).
 */
export function evaluateBundle(code: string, url: string, sourceName: string, require: HostRequire, timers: TrackedTimers): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  try {
    const fn = vm.compileFunction(code, PARAMS, { filename: url });
    fn.call(module.exports, module.exports, require, module, url, '', timers.setTimeout, timers.setInterval, timers.clear, timers.clear);
  } catch (err) {
    if (isRebindError(err)) throw err;
    const location = locateError(err);
    const where = location ? `${location.file}:${location.line}:${location.column}` : sourceName;
    const message = err instanceof Error ? err.message : String(err);
    throw rebindError('PATCH_EVAL_ERROR', `${where}: threw while loading: ${message}`, {
      ...(location ? { location } : {}),
      details: { stack: err instanceof Error && err.stack ? mapStack(err.stack) : message },
    });
  }
  return module.exports;
}
