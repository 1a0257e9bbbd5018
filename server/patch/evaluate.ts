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

export class TrackedTimers {
  private readonly live = new Set<TimerHandle>();

  constructor(private readonly onError: (err: unknown) => void) {}

  private guard(fn: unknown, args: unknown[]): () => void {
    return () => {
      try {
        if (typeof fn === 'function') fn(...args);
      } catch (err) {
        this.onError(err);
      }
    };
  }

  readonly setTimeout = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle => {
    const run = this.guard(fn, args);
    const handle: TimerHandle = globalThis.setTimeout(() => {
      this.live.delete(handle);
      run();
    }, ms);
    this.live.add(handle);
    return handle;
  };

  readonly setInterval = (fn: unknown, ms?: number, ...args: unknown[]): TimerHandle => {
    const handle = globalThis.setInterval(this.guard(fn, args), ms);
    this.live.add(handle);
    return handle;
  };

  readonly clear = (handle: TimerHandle | undefined): void => {
    if (handle === undefined) return;
    this.live.delete(handle);
    globalThis.clearTimeout(handle);
  };

  get count(): number {
    return this.live.size;
  }

  /** Clears every timer still pending; returns how many there were. */
  clearAll(): number {
    const n = this.live.size;
    for (const handle of this.live) globalThis.clearTimeout(handle);
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
