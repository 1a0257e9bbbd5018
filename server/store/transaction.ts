import { AsyncLocalStorage } from 'node:async_hooks';
import { rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { StorePatch } from './array-delta.ts';

// On the log's one stream, as JSON lines when it is not a terminal (log.ts).
const log = createLogger('store');

// A transaction is the synchronous run of one handler call (or of one patch's
// init, or one timer). Stores stage their writes here; the writes become
// visible to everyone at once when the run returns, or vanish if it throws.
// JavaScript runs one synchronous stretch at a time, so "the current
// transaction" is simply a module-level slot.

/** The undo key of a store staged as one whole value (not keyed by row). */
export const WHOLE = Symbol('whole value');

export interface Participant {
  readonly name: string;
  /** Makes a staged state the committed one. Must not throw. */
  commitStaged(staged: unknown): void;
  /**
   * Puts one key of a staged state back as it was when a savepoint opened
   * (`had` false: the key was not staged then). Keyed stores only; a store
   * staged as one value is undone by the transaction itself (key WHOLE).
   */
  undoStaged?(staged: unknown, key: unknown, had: boolean, value: unknown): void;
}

export interface StoreChange {
  store: Participant;
  patches: StorePatch[];
  /** Set when a migration moved the store to a new schema version. */
  version?: number;
}

export type CommitListener = (changes: StoreChange[]) => void;

interface UndoEntry {
  store: Participant;
  key: unknown;
  had: boolean;
  value: unknown;
}

/**
 * What a savepoint needs to undo a nested call: the value each key had before
 * its first write inside the savepoint (an undo log), so that opening and
 * undoing cost what the nested call wrote, not what the caller staged before.
 */
class Savepoint {
  readonly undo: UndoEntry[] = [];
  private readonly seen = new Map<Participant, Set<unknown>>();
  readonly patchCounts = new Map<Participant, number>();

  constructor(
    tx: Transaction,
    readonly effectCount: number,
    readonly versions: Map<Participant & { version: number }, number>,
  ) {
    for (const [store, list] of tx.patches) this.patchCounts.set(store, list.length);
  }

  /** Whether this is the first write of `key` since the savepoint opened (and marks it written). */
  first(store: Participant, key: unknown): boolean {
    let keys = this.seen.get(store);
    if (!keys) this.seen.set(store, (keys = new Set()));
    if (keys.has(key)) return false;
    keys.add(key);
    return true;
  }
}

export class Transaction {
  readonly staged = new Map<Participant, unknown>();
  readonly patches = new Map<Participant, StorePatch[]>();
  readonly effects: Array<() => void> = [];
  /** Schema versions that migrations in this transaction moved stores to. */
  readonly versions = new Map<Participant & { version: number }, number>();
  /** Open savepoints, innermost last. */
  readonly savepoints: Savepoint[] = [];

  stage(store: Participant, state: unknown, patches: readonly StorePatch[]): void {
    if (this.savepoints.length > 0 && this.staged.get(store) !== state) this.beforeWrite(store, WHOLE, this.staged.has(store), this.staged.get(store));
    this.staged.set(store, state);
    let list = this.patches.get(store);
    if (!list) this.patches.set(store, (list = []));
    for (const p of patches) list.push(p);
  }

  /**
   * Called by a keyed store before it changes `key` of its staged state:
   * the first such write inside the innermost savepoint is remembered, so
   * that an undo can put it back. Costs nothing outside savepoints.
   */
  beforeWrite(store: Participant, key: unknown, had: boolean, value: unknown): void {
    const top = this.savepoints[this.savepoints.length - 1];
    if (top && top.first(store, key)) top.undo.push({ store, key, had, value });
  }
}

let current: Transaction | null = null;
/** What runs where writes are refused (a view's filter), or null. */
let refusing: string | null = null;

/**
 * Runs `fn` where every store write throws LOGIC_FORBIDDEN: code that must
 * only look (a view's filter, run by the sync between transactions, whose
 * writes no handler would own). Reads see committed data.
 */
export function withoutWrites<T>(what: string, fn: () => T): T {
  const outer = current;
  const before = refusing;
  current = null;
  refusing = what;
  try {
    return fn();
  } finally {
    current = outer;
    refusing = before;
  }
}
const listeners = new Set<CommitListener>();

/**
 * One patch attempt (or one module loaded at start). Its new versions' top
 * level, migrations and init run inside it, and so does everything they queue
 * (promise callbacks, `await`s, queueMicrotask, process.nextTick, setImmediate,
 * timers): Node carries the attempt along. Those callbacks run only after the
 * patch has been decided, outside its transaction; if the attempt was refused,
 * every write they make is dropped (and logged), so a refused patch leaves no
 * write behind, even a late one.
 */
export interface PatchAttempt {
  /** e.g. `m v2`, for the log line. */
  readonly label: string;
  refused: boolean;
}

const attempts = new AsyncLocalStorage<PatchAttempt>();
let onDroppedWrite: (attempt: PatchAttempt) => void = () => undefined;

let attemptDepth = 0;
/**
 * Refused attempts not yet garbage collected. Everything a refused attempt
 * queued (a promise, a timer, an immediate) holds it, through the context
 * Node carries along; so while one is alive its queued work may still run,
 * and once none is, nothing it queued is left.
 */
let refusedAlive = 0;
const refusedCollected = new FinalizationRegistry<undefined>(() => {
  refusedAlive--;
  stopCarryingIfIdle();
});

function stopCarryingIfIdle(): void {
  if (refusedAlive === 0 && attemptDepth === 0) attempts.disable();
}

/**
 * Runs `fn` (and whatever it queues) as part of `attempt`. An attempt is
 * refused only by a throw from `fn`; one that returned is never refused, and
 * what it queued has nothing to be told apart from. So carrying attempts
 * along is on only during an attempt and while a refused one may still have
 * work queued: on Node 20 an enabled AsyncLocalStorage runs a hook at every
 * socket write, timer and promise, which cost the server about 6% of its CPU
 * at 500 players. (A fleet's patch ends its trial run in a refusal, every time.)
 */
export function inPatchAttempt<T>(attempt: PatchAttempt, fn: () => T): T {
  let result: T;
  attemptDepth++;
  try {
    result = attempts.run(attempt, fn);
  } catch (err) {
    refusedAlive++;
    refusedCollected.register(attempt, undefined);
    throw err;
  } finally {
    attemptDepth--;
  }
  stopCarryingIfIdle();
  return result;
}

/** The patch attempt the code running now belongs to (its top level, init, or what they queued, while carried). */
export function currentAttempt(): PatchAttempt | undefined {
  return attempts.getStore();
}

/** Whether Node carries attempts along now: during an attempt, and while a refused one may still have work queued. */
export function carryingAttempts(): boolean {
  return attemptDepth > 0 || refusedAlive > 0;
}

/** Where the host hears of a write dropped because it came from a refused attempt. */
export function setDroppedWriteListener(listener: (attempt: PatchAttempt) => void): void {
  onDroppedWrite = listener;
}

export function currentTransaction(): Transaction | null {
  return current;
}

/** Subscribes to every committed transaction that changed at least one store. */
export function onCommit(listener: CommitListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Runs `fn` as one transaction. Inside an open transaction it simply joins it,
 * so nested calls commit or fail with their caller. A returned promise is
 * passed through: the synchronous part has committed by then.
 */
export function transact<T>(fn: () => T): T {
  if (current) return fn();
  // Every write outside a transaction opens one here, so this is where a write that must not happen is refused.
  if (refusing !== null) throw rebindError('LOGIC_FORBIDDEN', `${refusing} may not write to stores: it only decides what a member sees (write in a handler or a tick instead)`);
  const tx = new Transaction();
  current = tx;
  let result: T;
  try {
    result = fn();
  } catch (err) {
    current = null;
    throw err;
  }
  current = null;
  const attempt = attempts.getStore();
  if (attempt?.refused) {
    // Queued by a refused patch and run after its refusal: dropped, not committed.
    if (tx.staged.size > 0 || tx.effects.length > 0 || tx.versions.size > 0) onDroppedWrite(attempt);
    return result;
  }
  commit(tx);
  return result;
}

/**
 * Runs `fn` inside the current transaction, undoing only its own writes and
 * effects if it throws, so a caller that catches the error keeps a consistent
 * view. Without a transaction it is `transact`. Its cost is proportional to
 * what `fn` writes, whatever the transaction staged before.
 */
export function savepoint<T>(fn: () => T): T {
  const tx = current;
  if (!tx) return transact(fn);
  const point = new Savepoint(tx, tx.effects.length, tx.versions.size > 0 ? new Map(tx.versions) : new Map());
  tx.savepoints.push(point);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    tx.savepoints.pop();
    rollBack(tx, point);
    throw err;
  }
  tx.savepoints.pop();
  // The caller's savepoint (if any) must be able to undo these writes too:
  // hand it each key it has not itself remembered yet.
  const parent = tx.savepoints[tx.savepoints.length - 1];
  if (parent) for (const entry of point.undo) if (parent.first(entry.store, entry.key)) parent.undo.push(entry);
  return result;
}

function rollBack(tx: Transaction, point: Savepoint): void {
  for (let i = point.undo.length - 1; i >= 0; i--) {
    const { store, key, had, value } = point.undo[i]!;
    if (key === WHOLE) {
      if (had) tx.staged.set(store, value);
      else tx.staged.delete(store);
    } else store.undoStaged!(tx.staged.get(store), key, had, value);
  }
  for (const [store, list] of [...tx.patches]) {
    const keep = point.patchCounts.get(store);
    if (keep === undefined) tx.patches.delete(store);
    else list.length = keep;
  }
  tx.effects.length = point.effectCount;
  tx.versions.clear();
  for (const [store, v] of point.versions) tx.versions.set(store, v);
}

/** Runs `effect` once the current transaction commits; never if it fails. */
export function afterCommit(effect: () => void): void {
  if (current) return void current.effects.push(effect);
  // Outside a transaction an effect runs at once: unless a refused attempt queued it (a ctx.send or
  // ctx.setRoomView from a refused init's promise callback), which is dropped as its writes are.
  const attempt = attempts.getStore();
  if (attempt?.refused) return onDroppedWrite(attempt);
  effect();
}

/**
 * Forgets the current transaction without committing it. Only for the host,
 * after logic was stopped mid-run by a time limit (no `finally` of the
 * stopped code ran, so nothing else would reset the slot).
 */
export function abandonTransaction(): void {
  current = null;
}

function commit(tx: Transaction): void {
  if (tx.staged.size === 0 && tx.effects.length === 0 && tx.versions.size === 0) return;
  const changes: StoreChange[] = [];
  for (const [store, state] of tx.staged) {
    store.commitStaged(state);
    const patches = tx.patches.get(store) ?? [];
    const version = tx.versions.get(store as Participant & { version: number });
    if (patches.length > 0 || version !== undefined) changes.push(version === undefined ? { store, patches } : { store, patches, version });
  }
  for (const [store, version] of tx.versions) {
    store.version = version;
    if (!tx.staged.has(store)) changes.push({ store, patches: [], version });
  }
  if (changes.length > 0) {
    for (const listener of listeners) {
      try {
        listener(changes);
      } catch (err) {
        log.error('a commit listener failed', err);
      }
    }
  }
  for (const effect of tx.effects) {
    try {
      effect();
    } catch (err) {
      log.error('an after-commit effect failed', err);
    }
  }
}
