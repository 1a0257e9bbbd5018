import type { Patch } from 'immer';

// A transaction is the synchronous run of one handler call (or of one patch's
// init, or one timer). Stores stage their writes here; the writes become
// visible to everyone at once when the run returns, or vanish if it throws.
// JavaScript runs one synchronous stretch at a time, so "the current
// transaction" is simply a module-level slot.

export interface Participant {
  readonly name: string;
  /** Makes a staged state the committed one. Must not throw. */
  commitStaged(staged: unknown): void;
  /** A copy of staged state that later writes cannot disturb (for savepoints). */
  cloneStaged(staged: unknown): unknown;
}

export interface StoreChange {
  store: Participant;
  patches: Patch[];
  /** Set when a migration moved the store to a new schema version. */
  version?: number;
}

export type CommitListener = (changes: StoreChange[]) => void;

export class Transaction {
  readonly staged = new Map<Participant, unknown>();
  readonly patches = new Map<Participant, Patch[]>();
  readonly effects: Array<() => void> = [];
  /** Schema versions that migrations in this transaction moved stores to. */
  readonly versions = new Map<Participant & { version: number }, number>();

  stage(store: Participant, state: unknown, patches: readonly Patch[]): void {
    this.staged.set(store, state);
    let list = this.patches.get(store);
    if (!list) this.patches.set(store, (list = []));
    for (const p of patches) list.push(p);
  }
}

let current: Transaction | null = null;
const listeners = new Set<CommitListener>();

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
  commit(tx);
  return result;
}

/**
 * Runs `fn` inside the current transaction, undoing only its own writes and
 * effects if it throws, so a caller that catches the error keeps a consistent
 * view. Without a transaction it is `transact`.
 */
export function savepoint<T>(fn: () => T): T {
  const tx = current;
  if (!tx) return transact(fn);
  const staged = new Map<Participant, unknown>();
  for (const [store, state] of tx.staged) staged.set(store, store.cloneStaged(state));
  const patchCounts = new Map<Participant, number>();
  for (const [store, list] of tx.patches) patchCounts.set(store, list.length);
  const effectCount = tx.effects.length;
  const versions = new Map(tx.versions);
  try {
    return fn();
  } catch (err) {
    tx.staged.clear();
    for (const [store, state] of staged) tx.staged.set(store, state);
    for (const [store, list] of [...tx.patches]) {
      const keep = patchCounts.get(store);
      if (keep === undefined) tx.patches.delete(store);
      else list.length = keep;
    }
    tx.effects.length = effectCount;
    tx.versions.clear();
    for (const [store, v] of versions) tx.versions.set(store, v);
    throw err;
  }
}

/** Runs `effect` once the current transaction commits; never if it fails. */
export function afterCommit(effect: () => void): void {
  if (current) current.effects.push(effect);
  else effect();
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
        console.error('rebind: a commit listener failed', err);
      }
    }
  }
  for (const effect of tx.effects) {
    try {
      effect();
    } catch (err) {
      console.error('rebind: an after-commit effect failed', err);
    }
  }
}
