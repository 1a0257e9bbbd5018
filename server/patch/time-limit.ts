import vm from 'node:vm';
import { abandonRun, runInProgress } from './busy.ts';

// A module's top level and its init run under a time limit, so that an
// endless loop there refuses the patch instead of hanging the server. Node
// can stop running JavaScript only through vm's `timeout`, which watches a
// script run; so the code to limit is called from a one-line script, run in
// a context made once for the purpose. The limited function keeps its own
// realm: only the watchdog comes from vm.
//
// Code stopped this way runs no `finally`: the caller must run the limited
// function inside state it can throw away (an open transaction), and reset
// anything the stopped code might have left behind.

const context = vm.createContext({ run: undefined as (() => unknown) | undefined });
const runner = new vm.Script('run()', { filename: 'rebind:time-limit' });
let depth = 0;

export class TimeLimitExceeded extends Error {
  constructor(readonly limitMs: number) {
    super(`ran for more than ${limitMs} ms and was stopped`);
    this.name = 'TimeLimitExceeded';
  }
}

/** Runs `fn` synchronously; throws TimeLimitExceeded if it runs longer than `ms`. */
export function withTimeLimit<T>(ms: number, fn: () => T): T {
  if (depth > 0 || !(ms > 0) || !Number.isFinite(ms)) return fn(); // an outer limit already watches
  depth++;
  context.run = fn;
  const watched = runInProgress();
  try {
    return runner.runInContext(context, { timeout: Math.ceil(ms) }) as T;
  } catch (err) {
    if ((err as { code?: string } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      if (!watched) abandonRun(); // the stopped run's runEnded never ran
      throw new TimeLimitExceeded(ms);
    }
    throw err;
  } finally {
    context.run = undefined; // the context must not keep a replaced version's code alive
    depth--;
  }
}
