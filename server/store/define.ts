import { rebindError } from '../errors.ts';
import type { StoreLike } from './store.ts';
import { locateError } from '../patch/sourcemaps.ts';
import { currentTransaction } from './transaction.ts';

// Stores are made only by state/, and every one of them is kept. While the
// host loads state/, each store is registered the moment it is defined, so a
// store exported inside an object (or not exported at all) is persisted and
// synced like any other. At any other time defining a store is refused: from
// logic (a module's top level, init, a handler, a tick, and just as much
// after an `await`, in a raw timer or a promise callback, outside any
// transaction) a store would be made fresh at every patch and never be
// registered, persisted nor synced; from a state file's own timer, later, it
// would not be registered either. Tests and benchmarks that make stores
// directly, with no server, opt in with allowStandaloneStores(); even then a
// call from game code (a stack frame of an evaluated logic or state bundle)
// is refused.

type Sink = (store: StoreLike) => void;

let sink: Sink | null = null;

/** Runs `fn` (the evaluation of one state file), handing every store it defines to `onDefine`. */
export function collectStores<T>(onDefine: Sink, fn: () => T): T {
  const before = sink;
  sink = onDefine;
  try {
    return fn();
  } finally {
    sink = before;
  }
}

let standalone = false;

/**
 * For tests and benchmarks that make stores directly, without a server: lets
 * host code of this process call defineStore/defineTable outside state/
 * loading. The server never calls it.
 */
export function allowStandaloneStores(): void {
  standalone = true;
}

/** A frame of game code (an evaluated logic or state bundle; see sourcemaps.ts codeUrl). */
const GAME_FRAME = /rebind:(logic|state)\/[^\s()]+?@v\d+:\d+:\d+/;

/** Called by defineStore and defineTable before they make anything. */
export function mayDefine(kind: 'defineStore' | 'defineTable', name: string): void {
  if (sink) return; // state/ is loading
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const probe = new Error();
  Error.stackTraceLimit = limit;
  const game = GAME_FRAME.exec(probe.stack ?? '')?.[1];
  if (standalone && currentTransaction() === null && !game) return;
  const location = locateError(probe);
  const where = location ? `${location.file}:${location.line}:${location.column}: ` : '';
  throw rebindError(
    'STORE_OUTSIDE_STATE',
    `${where}${kind}("${name}") was called ${game === 'logic' ? 'from game logic' : game === 'state' ? 'from a state file after it loaded (a timer or callback)' : 'outside the loading of state/'}; stores are declared only at the top level of state/ files, which the server loads once (a store made in logic/ would start empty again at every patch, and one made later is never persisted nor synced). Move it to state/${String(name).replace(/[^\w-]/g, '_')}.ts and import it from there`,
    { ...(location ? { location } : {}), details: { store: name } },
  );
}

/** Called by defineStore and defineTable with what they made. */
export function defined<S extends StoreLike>(store: S): S {
  sink?.(store);
  return store;
}
