import { enablePatches, freeze, isDraft, produce, type Draft, type Patch } from 'immer';
import { applyWirePatches } from '../../client/replica.ts';
import { compactArrayPatches, type StorePatch } from './array-delta.ts';
import { rebindError } from '../errors.ts';
import { assertKeysWellFormed, assertPlain, isWellFormed } from './plain.ts';
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
  replay(patches: readonly StorePatch[]): void;
  /** Replaces the data inside the current transaction (migrations). */
  replaceAll(data: unknown): void;
}

export function checkPatches(store: string, patches: readonly StorePatch[], prefix: readonly (string | number)[] = []): void {
  for (const p of patches) {
    if (p.op === 'remove' || p.op === 'trim') continue;
    // A new key (a row id, a field) is data too: the snapshot and the journal carry it. A replaced one was checked when added.
    if (p.op === 'add') assertKeysWellFormed(store, p.path);
    const v = p.value;
    // A field's new number or string (most writes): nothing to walk, no path to build.
    if (typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && isWellFormed(v))) continue;
    const path = [...prefix, ...p.path];
    assertPlain(p.value, store, path, typeof path[path.length - 1] === 'number');
  }
}

export const NEW_PROTO_KEY =
  'a key named "__proto__" cannot be assigned through an update recipe (immer takes it for a prototype change); use a table for entities keyed by names players choose (table.set takes any id), or replace the object: d.map = { ...d.map, [key]: value }';

/** The plain copies flat-update.ts hands recipes as drafts, while their recipe runs (innermost last). */
export const plainDrafts: object[] = [];

// `draft[key] = value` with key "__proto__" reaches Object.prototype's
// __proto__ setter, which immer refuses for objects and which silently drops
// any other value: a write would be lost without a word. The setter is
// wrapped once so that on a draft (immer's, or a plain one) it throws
// instead; on every other object it does exactly what it did.
const protoAccessor = Object.getOwnPropertyDescriptor(Object.prototype, '__proto__');
if (protoAccessor?.set && protoAccessor.configurable) {
  const set = protoAccessor.set;
  Object.defineProperty(Object.prototype, '__proto__', {
    ...protoAccessor,
    set(this: unknown, value: unknown) {
      if (isDraft(this) || plainDrafts.includes(this as object)) throw rebindError('NOT_PLAIN_DATA', NEW_PROTO_KEY);
      set.call(this, value);
    },
  });
}

/**
 * Runs an immer recipe and returns the new value and its patches (an own
 * `__proto__` key already in the data reads and changes like any other); an
 * array that only dropped items from its front and grew at its end is
 * described by a `trim` and its new items (array-delta.ts).
 */
export function produceWithPatches<T>(store: string, base: T, recipe: (draft: Draft<T>) => Draft<T> | void | undefined): { next: T; patches: StorePatch[] } {
  let patches: Patch[] = [];
  try {
    const next = produce(base, recipe, (p) => {
      patches = p;
    }) as T;
    // A symbol-keyed property set through a draft: immer makes a patch of it, which no journal or
    // client can carry (set refuses such a value; here the recipe wrote it field by field).
    for (const p of patches) {
      const at = p.path.findIndex((k) => typeof k === 'symbol');
      if (at !== -1) {
        const where = [store, ...p.path.slice(0, at).map(String)].join('.');
        throw rebindError('NOT_PLAIN_DATA', `${where}: a symbol-keyed property (${String(p.path[at])}) cannot be stored: state is plain data (string keys)`, { details: { store } });
      }
    }
    // Normally already frozen (then this returns at once). But if logic was
    // ever stopped by a time limit inside a recipe, immer's module-level scope
    // was left behind and it believes every later produce is nested, which it
    // does not freeze; freezing here keeps stores immutable regardless.
    return { next: freeze(next, true), patches: compactArrayPatches(base, next, patches) };
  } catch (err) {
    if (err instanceof Error && err.message === NEW_PROTO_KEY) throw rebindError('NOT_PLAIN_DATA', `${store}: ${NEW_PROTO_KEY}`, { details: { store } });
    throw err;
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
    const { next, patches } = produceWithPatches(this.name, this.get(), recipe);
    if (patches.length === 0) return next;
    // As at creation: JSON has no undefined (a JSON member would read null where a MessagePack one reads undefined).
    if (next === undefined) throw rebindError('NOT_PLAIN_DATA', `${this.name}: a store's value cannot be undefined (an update recipe returned immer's nothing): set it to null or an empty value`);
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

  replay(patches: readonly StorePatch[]): void {
    // Not immer's applyPatches: it refuses paths through `__proto__` and `constructor`, which are ordinary keys here, and knows no `trim`.
    this.value = freeze(applyWirePatches(this.value, patches) as T, true);
  }

  replaceAll(data: unknown): void {
    this.update(() => data as Draft<T>);
  }
}
