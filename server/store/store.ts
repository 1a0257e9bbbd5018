import { applyPatches, enablePatches, freeze, produce, type Draft, type Patch } from 'immer';
import { rebindError } from '../errors.ts';
import { assertPlain } from './plain.ts';
import { currentTransaction, transact, type Participant } from './transaction.ts';

enablePatches();

export interface StoreOptions {
  /** The shape's version; migrations move data from one version to the next. */
  version?: number;
}

/** What the host needs from any kind of store: persistence, sync, status. */
export interface StoreLike extends Participant {
  readonly kind: 'value' | 'table';
  /** The data's current schema version (raised by migrations). */
  version: number;
  /** The committed data as one plain value. */
  snapshot(): unknown;
  /** The data as one plain value, as the current transaction sees it. */
  current(): unknown;
  /** Replaces the committed data, outside any transaction (recovery). */
  restore(data: unknown, version: number): void;
  /** Applies already-validated patches to the committed data (journal replay). */
  replay(patches: readonly Patch[]): void;
  /** Replaces the data inside the current transaction (migrations). */
  replaceAll(data: unknown): void;
}

export function checkPatches(store: string, patches: readonly Patch[], prefix: readonly (string | number)[] = []): void {
  for (const p of patches) {
    if (p.op === 'remove') continue;
    const path = [...prefix, ...p.path];
    assertPlain(p.value, store, path, typeof path[path.length - 1] === 'number');
  }
}

/**
 * A store of one plain value, changed through immer transactions. Good for
 * settings, a match's phase, a leaderboard; keyed collections of many
 * entities belong in a table, whose writes cost the same at any size.
 */
export class Store<T> implements StoreLike {
  readonly kind = 'value' as const;
  version: number;
  private value: T;

  constructor(
    readonly name: string,
    initial: T,
    options: StoreOptions = {},
  ) {
    if (initial === undefined) throw rebindError('NOT_PLAIN_DATA', `${name}: a store's initial value cannot be undefined`);
    assertPlain(initial, name);
    this.value = freeze(initial, true);
    this.version = options.version ?? 1;
  }

  /** The current value, deeply frozen. Inside a transaction, with its own writes. */
  get(): T {
    const tx = currentTransaction();
    if (tx && tx.staged.has(this)) return tx.staged.get(this) as T;
    return this.value;
  }

  /** Changes the value in the current transaction (or in one of its own). */
  update(recipe: (draft: Draft<T>) => Draft<T> | void | undefined): T {
    const tx = currentTransaction();
    if (!tx) return transact(() => this.update(recipe));
    let patches: Patch[] = [];
    const next = produce(this.get(), recipe, (p) => {
      patches = p;
    }) as T;
    if (patches.length === 0) return next;
    checkPatches(this.name, patches);
    tx.stage(this, next, patches);
    return next;
  }

  commitStaged(staged: unknown): void {
    this.value = staged as T;
  }

  snapshot(): T {
    return this.value;
  }

  current(): T {
    return this.get();
  }

  restore(data: unknown, version: number): void {
    assertPlain(data, this.name);
    this.value = freeze(data as T, true);
    this.version = version;
  }

  replay(patches: readonly Patch[]): void {
    this.value = freeze(applyPatches(this.value as object, patches as Patch[]) as T, true);
  }

  replaceAll(data: unknown): void {
    this.update(() => data as Draft<T>);
  }
}
