import { freeze, type Draft } from 'immer';
import { applyWirePatches } from '../../client/replica.ts';
import type { StorePatch } from './array-delta.ts';
import { rebindError } from '../errors.ts';
import { assertKeysWellFormed, assertPlain } from './plain.ts';
import { assignable, assignFields } from './assign-fields.ts';
import { updateFlatRow } from './flat-update.ts';
import { checkPatches, produceWithPatches, type StoreLike, type StoreOptions } from './store.ts';
import { currentTransaction, transact } from './transaction.ts';

// A keyed collection whose rows are copied on write one at a time: changing
// one player among 100,000 costs what it costs among ten. To persistence and
// client sync it looks exactly like a plain `Record<id, Row>`: snapshots are
// that record, and patch paths start with the row's id.

const DELETED = Symbol('deleted');
type Overlay<Row> = Map<string, Row | typeof DELETED>;

export interface TableOptions<Row> extends StoreOptions {
  rows?: Record<string, Row>;
}

export class Table<Row> implements StoreLike {
  readonly kind = 'table' as const;
  version: number;
  private rows = new Map<string, Row>();

  constructor(
    readonly name: string,
    options: TableOptions<Row> = {},
  ) {
    this.version = options.version ?? 1;
    for (const [id, row] of Object.entries(options.rows ?? {})) {
      assertPlain(row, name, [id]);
      this.rows.set(id, freeze(row, true));
    }
  }

  private overlay(): Overlay<Row> | undefined {
    return currentTransaction()?.staged.get(this) as Overlay<Row> | undefined;
  }

  /** The row, deeply frozen, or undefined. */
  get(id: string): Row | undefined {
    const staged = this.overlay()?.get(id);
    if (staged === DELETED) return undefined;
    return staged ?? this.rows.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  get size(): number {
    const overlay = this.overlay();
    if (!overlay) return this.rows.size;
    let size = this.rows.size;
    for (const [id, row] of overlay) {
      const existed = this.rows.has(id);
      if (row === DELETED && existed) size--;
      else if (row !== DELETED && !existed) size++;
    }
    return size;
  }

  // A walk looks at the current transaction when it starts (its first step),
  // as a generator does: with nothing written to the table in that
  // transaction, Map's own iterator walks the committed rows (a tick's loops
  // over every row cost a generator step and a check each otherwise); else the
  // committed rows merged with this transaction's writes.
  entries(): IterableIterator<[string, Row]> {
    return this.walk(() => this.rows.entries(), (overlay) => this.merged(overlay));
  }

  values(): IterableIterator<Row> {
    return this.walk(() => this.rows.values(), (overlay) => mapIterator(this.merged(overlay), ([, row]) => row));
  }

  ids(): IterableIterator<string> {
    return this.walk(() => this.rows.keys(), (overlay) => mapIterator(this.merged(overlay), ([id]) => id));
  }

  private walk<T>(committed: () => Iterator<T>, merged: (overlay: Overlay<Row>) => Iterator<T>): IterableIterator<T> {
    return new LazyWalk(() => {
      const overlay = this.overlay();
      return overlay ? merged(overlay) : committed();
    });
  }

  private *merged(overlay: Overlay<Row>): IterableIterator<[string, Row]> {
    for (const [id, row] of this.rows) {
      const staged = overlay.get(id);
      if (staged === DELETED) continue;
      yield [id, staged ?? row];
    }
    for (const [id, row] of overlay) if (row !== DELETED && !this.rows.has(id)) yield [id, row];
  }

  /** Inserts or replaces a whole row. */
  set(id: string, row: Row): Row {
    this.checkId(id);
    const overlay = this.writable();
    if (!overlay) return transact(() => this.set(id, row));
    assertKeysWellFormed(this.name, [id]);
    refuseEmptyRow(this.name, id, row);
    assertPlain(row, this.name, [id]);
    const frozen = freeze(row, true);
    const op = this.has(id) ? 'replace' : 'add';
    this.put(overlay, id, frozen);
    this.stagePatches([{ op, path: [id], value: frozen }]);
    return frozen;
  }

  /** Changes one row through an immer recipe; the row must exist. */
  update(id: string, recipe: (draft: Draft<Row>) => Draft<Row> | void | undefined): Row {
    this.checkId(id);
    const overlay = this.writable();
    if (!overlay) return transact(() => this.update(id, recipe));
    const base = this.existing(id);
    return this.write(overlay, id, base, updateFlatRow(this.name, id, base, recipe) ?? this.produce(id, base, recipe));
  }

  /**
   * Sets some fields of one existing row: `players.assign(id, { x, y })`. As
   * `update(id, (d) => Object.assign(d, fields))`, at a fraction of the cost.
   */
  assign(id: string, fields: Partial<Row>): Row {
    this.checkId(id);
    const overlay = this.writable();
    if (!overlay) return transact(() => this.assign(id, fields));
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      throw rebindError('NOT_PLAIN_DATA', `${this.name}.${id}: assign takes an object of fields, got ${Array.isArray(fields) ? 'an array' : fields === null ? 'null' : typeof fields}`, { details: { store: this.name, id } });
    }
    const base = this.existing(id);
    if (!assignable(base)) return this.update(id, (d) => void Object.assign(d as object, fields));
    return this.write(overlay, id, base, assignFields(id, base, fields));
  }

  /** The row `update` or `assign` changes: it must exist. */
  private existing(id: string): Row {
    const base = this.get(id);
    if (base === undefined) throw rebindError('UNKNOWN_ROW', `${this.name}.${id}: no such row to update`, { details: { store: this.name, id } });
    return base;
  }

  /** Stages an updated row and its patches; returns the row the table now holds. */
  private write(overlay: Overlay<Row>, id: string, base: Row, { next, patches }: { next: Row; patches: StorePatch[] }): Row {
    // No patch, no change anyone can see (0 written over -0): the stored row stays, and is what the caller gets.
    if (patches.length === 0) return base;
    refuseEmptyRow(this.name, id, next);
    checkPatches(this.name, patches);
    this.put(overlay, id, next);
    this.stagePatches(patches);
    return next;
  }

  /** immer's path, for rows holding objects or arrays: its patches, their paths starting with the row's id. */
  private produce(id: string, base: Row, recipe: (draft: Draft<Row>) => Draft<Row> | void | undefined): { next: Row; patches: StorePatch[] } {
    const { next, patches } = produceWithPatches(`${this.name}.${id}`, base, recipe);
    return { next, patches: patches.map((p) => ({ ...p, path: [id, ...p.path] })) };
  }

  delete(id: string): boolean {
    this.checkId(id);
    const overlay = this.writable();
    if (!overlay) return transact(() => this.delete(id));
    if (!this.has(id)) return false;
    this.put(overlay, id, DELETED);
    this.stagePatches([{ op: 'remove', path: [id] }]);
    return true;
  }

  /** The rows as one plain record: O(rows); for snapshots, not for ticks. */
  toObject(): Record<string, Row> {
    return Object.fromEntries(this.entries());
  }

  private writable(): Overlay<Row> | undefined {
    const tx = currentTransaction();
    if (!tx) return undefined;
    let overlay = tx.staged.get(this) as Overlay<Row> | undefined;
    if (!overlay) {
      overlay = new Map();
      tx.stage(this, overlay, []);
    }
    return overlay;
  }

  /** Stages one row, remembering its earlier staged state for an open savepoint. */
  /** A row id is a string: `set(ctx.player, ...)` run with no player must not store a row named "null". */
  private checkId(id: unknown): void {
    if (typeof id === 'string') return;
    throw rebindError('BAD_ROW_ID', `${this.name}: a row id must be a string, not ${id === null ? 'null' : typeof id}`, { details: { store: this.name } });
  }

  private put(overlay: Overlay<Row>, id: string, row: Row | typeof DELETED): void {
    const tx = currentTransaction()!;
    if (tx.savepoints.length > 0) tx.beforeWrite(this, id, overlay.has(id), overlay.get(id));
    overlay.set(id, row);
  }

  private stagePatches(patches: StorePatch[]): void {
    const tx = currentTransaction()!;
    tx.stage(this, tx.staged.get(this), patches);
  }

  commitStaged(staged: unknown): void {
    for (const [id, row] of staged as Overlay<Row>) {
      if (row === DELETED) this.rows.delete(id);
      else this.rows.set(id, row);
    }
  }

  undoStaged(staged: unknown, id: unknown, had: boolean, row: unknown): void {
    const overlay = staged as Overlay<Row>;
    if (had) overlay.set(id as string, row as Row | typeof DELETED);
    else overlay.delete(id as string);
  }

  snapshot(): Record<string, Row> {
    return Object.fromEntries(this.rows);
  }

  current(): Record<string, Row> {
    return this.toObject();
  }

  /** The committed rows as [id, row] pairs: a consistent picture, taken in a few ms even for 100,000s of rows. */
  committedEntries(): Array<[string, Row]> {
    return [...this.rows];
  }

  restore(data: unknown, version: number): void {
    assertPlain(data, this.name);
    this.rows = new Map(Object.entries(data as Record<string, Row>).map(([id, row]) => [id, freeze(row, true)]));
    this.version = version;
  }

  replay(patches: readonly StorePatch[]): void {
    for (const p of patches) {
      const id = String(p.path[0]);
      // A trim of a row that is itself an array changes the row, as a longer path does.
      if (p.path.length === 1 && p.op !== 'trim') {
        if (p.op === 'remove') this.rows.delete(id);
        else this.rows.set(id, freeze(p.value as Row, true));
        continue;
      }
      const row = this.rows.get(id);
      if (row === undefined) throw rebindError('PERSIST_ERROR', `${this.name}.${id}: a patch names a row that does not exist`);
      this.rows.set(id, freeze(applyWirePatches(row, [{ ...p, path: p.path.slice(1) }]) as Row, true));
    }
  }

  replaceAll(data: unknown): void {
    if (!currentTransaction()) return transact(() => this.replaceAll(data));
    assertPlain(data, this.name);
    for (const id of [...this.ids()]) if (!Object.hasOwn(data as object, id)) this.delete(id);
    for (const [id, row] of Object.entries(data as Record<string, Row>)) this.set(id, row);
  }
}

/**
 * A row is never undefined or null: reads take a staged undefined for "not written here" and fall back to the
 * committed row, so the transaction, the journal and the members' replicas would each hold another row (and a
 * journal so written could not be replayed).
 */
function refuseEmptyRow(table: string, id: string, row: unknown): void {
  if (row !== undefined && row !== null) return;
  throw rebindError('NOT_PLAIN_DATA', `${table}.${id}: a row cannot be ${row} (an update recipe returning immer's nothing makes it undefined): remove it with ${table}.delete(id)`, { details: { store: table, id } });
}

/** An iterator whose source is chosen at its first step. */
class LazyWalk<T> implements IterableIterator<T> {
  private source: Iterator<T> | undefined;
  constructor(private readonly start: () => Iterator<T>) {}
  next(): IteratorResult<T> {
    return (this.source ??= this.start()).next();
  }
  [Symbol.iterator](): IterableIterator<T> {
    return this;
  }
}

function* mapIterator<T, U>(source: Iterable<T>, f: (item: T) => U): IterableIterator<U> {
  for (const item of source) yield f(item);
}

