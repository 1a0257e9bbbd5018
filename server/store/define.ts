import { rebindError } from '../errors.ts';
import type { StoreLike } from './store.ts';
import { currentTransaction } from './transaction.ts';

// Stores are made only by state/, and every one of them is kept. While the
// host loads state/, each store is registered the moment it is defined, so a
// store exported inside an object (or not exported at all) is persisted and
// synced like any other. While logic runs (a module's top level, init, a
// handler, a tick: anything that runs inside a store transaction) defining a
// store is refused: logic is re-evaluated at every patch, so a store made
// there would start over empty each time. Outside both (tests, benchmarks) a
// store is simply made.

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

/** Called by defineStore and defineTable before they make anything. */
export function mayDefine(kind: 'defineStore' | 'defineTable', name: string): void {
  // Logic always runs inside a transaction (a patch's top level and init, a
  // handler, a tick, a timer); state/ loads outside any, with a sink set.
  if (sink || currentTransaction() === null) return;
  throw rebindError(
    'STORE_OUTSIDE_STATE',
    `${kind}("${name}") was called from game logic; stores are declared only in state/ files, which the server loads once (a store made in logic/ would start empty again at every patch). Move it to state/${String(name).replace(/[^\w-]/g, '_')}.ts and import it from there`,
    { details: { store: name } },
  );
}

/** Called by defineStore and defineTable with what they made. */
export function defined<S extends StoreLike>(store: S): S {
  sink?.(store);
  return store;
}
