import { IdBits } from './id-bits.ts';
import { SyncWriter } from './sync-writer.ts';
import { syncOp, type SyncOp } from './sync-changes.ts';

// The compact delta (docs/protocol.md, "$delta"): a flat list of tokens.
// Every string of a path is a small integer from the room's dictionary (the
// client learns each key once, from `$state` or from a delta's new keys); an
// array index i is written -1 - i. Table fields set this tick travel as row
// groups: the fields named once, then per row the gap to the previous row's
// key id and the values, so a player who moved costs about 11 bytes.

export const OP = { set: 0, remove: 1, insert: 2, trim: 3, rows: 4 } as const;

/** A tick's new keys for every member: a string per new key, null for a row id only some may know; and earlier ids now public. */
export interface NewKeys {
  added: Array<string | null>;
  revealed: Array<[number, string]>;
}

/**
 * A room's key dictionary. The row ids of tables seen per member (a filter,
 * a radius) are hidden: every member is told that the id exists (a null, so
 * that ids stay the same for everyone) and only a member whose view the row
 * enters is told its name (sync-tick.ts). A spy must not learn who joined
 * far away from the dictionary alone.
 */
export class KeyDictionary {
  private readonly ids = new Map<string, number>();
  readonly keys: string[] = [];
  private told = 0;
  private readonly hidden = new IdBits();
  private revealed: number[] = [];
  /** Tables whose rows each member sees its own share of. */
  hiddenStores: ReadonlySet<string> = new Set();

  id(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.keys.length;
      this.ids.set(key, id);
      this.keys.push(key);
    } else if (this.hidden.size > 0 && this.hidden.delete(id) && id < this.told) this.revealed.push(id);
    return id;
  }

  private lastStore: string | undefined;
  private lastStoreId = -1;

  /** A store name's key id: each op of a tick asks for one of the same few names, so the last one is kept. */
  store(name: string): number {
    if (name !== this.lastStore) {
      this.lastStoreId = this.id(name);
      this.lastStore = name;
    }
    return this.lastStoreId;
  }

  /** A row's key id: hidden if its table is seen per member (until the same key is used anywhere else). */
  row(store: string, key: string): number {
    if (!this.hiddenStores.has(store)) return this.id(key);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.id(key);
      this.hidden.add(id);
    }
    return id;
  }

  isHidden(id: number): boolean {
    return this.hidden.has(id);
  }

  /** Keys added since the last call, hidden ones as null: every member learns them with this tick's deltas. */
  takeNew(): NewKeys {
    const added = this.keys.slice(this.told).map((key, i) => (this.hidden.has(this.told + i) ? null : key));
    this.told = this.keys.length;
    const revealed = this.revealed.map((id): [number, string] => [id, this.keys[id]!]);
    this.revealed = [];
    return { added, revealed };
  }

  /** All keys told so far, hidden ones as null, for a `$state` (a snapshot is sent between ticks, after takeNew). */
  all(): Array<string | null> {
    return this.keys.slice(0, this.told).map((key, id) => (this.hidden.has(id) ? null : key));
  }
}

function encodePath(dict: KeyDictionary, store: string, path: ReadonlyArray<string | number>): number[] {
  const out = [dict.id(store)];
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    out.push(typeof key === 'number' ? -1 - key : i === 0 ? dict.row(store, key) : dict.id(key));
  }
  return out;
}

const wholeRowWriter = new SyncWriter();

/**
 * A whole row's op (`[id]`: a row entering or leaving radius views), made once per tick for every
 * member that gets it: its key ids and its tokens' bytes, so that no member looks them up or
 * encodes the row again. (Never a row field's op: fieldIds would take its missing field id for found.)
 */
export function wholeRowOp(store: string, kind: 'set' | 'remove', id: string, value: unknown, dict: KeyDictionary): SyncOp {
  const op = syncOp(store, kind, [id], value, Infinity);
  op.idsOf = dict;
  op.storeId = dict.store(store);
  op.rowId = dict.row(store, id);
  const w = wholeRowWriter;
  w.reset();
  for (const token of opTokens(op)) w.value(token);
  op.tokens = w.finish();
  return op;
}

/** The tokens of a whole row's op as wholeRowOp made it: [kind, [store, row], value?]. */
export function opTokens(op: SyncOp): unknown[] {
  const path = [op.storeId!, op.rowId!];
  return op.kind === 'remove' ? [OP.remove, path] : [OP[op.kind], path, op.value];
}

/** Key ids of an op's store, row and field (op.storeId, rowId, fieldId), found once per room and tick however many members get the op. */
export function fieldIds(op: SyncOp, dict: KeyDictionary): Required<Pick<SyncOp, 'storeId' | 'rowId' | 'fieldId'>> {
  if (op.idsOf !== dict) {
    op.idsOf = dict;
    op.storeId = dict.store(op.store);
    op.rowId = dict.row(op.store, op.path[0] as string);
    op.fieldId = dict.id(op.path[1] as string);
  }
  return op as Required<SyncOp>;
}

/** A row field's set that may travel in a row group: nothing else this tick writes the row or the store itself. */
export function groupable(op: SyncOp, blocked: Map<string, Set<string | number> | true>): boolean {
  if (op.kind !== 'set' || op.path.length !== 2 || typeof op.path[0] !== 'string' || typeof op.path[1] !== 'string') return false;
  const rows = blocked.get(op.store);
  return rows !== true && !rows?.has(op.path[0]);
}

/** Stores written whole, and rows written whole (added, removed, replaced): their fields keep their place in order. */
export function blockedBy(ops: readonly SyncOp[]): Map<string, Set<string | number> | true> {
  const blocked = new Map<string, Set<string | number> | true>();
  for (const op of ops) {
    if (op.path.length === 0) blocked.set(op.store, true);
    else if (op.path.length === 1) {
      const rows = blocked.get(op.store);
      if (rows === true) continue;
      if (rows) rows.add(op.path[0]!);
      else blocked.set(op.store, new Set([op.path[0]!]));
    }
  }
  return blocked;
}

export function encodeOps(ops: readonly SyncOp[], dict: KeyDictionary): unknown[] {
  // Rows entering and leaving a member's view (and nothing below a row): no row groups to look for.
  if (ops.every((op) => op.path.length <= 1)) return restTokens(ops, dict, []);
  const blocked = blockedBy(ops);
  const byStore = new Map<number, SyncOp[]>();
  const rest: SyncOp[] = [];
  for (const op of ops) {
    if (!groupable(op, blocked)) {
      rest.push(op);
      continue;
    }
    const store = fieldIds(op, dict).storeId;
    let list = byStore.get(store);
    if (!list) byStore.set(store, (list = []));
    list.push(op);
  }
  const tokens: unknown[] = [];
  for (const store of [...byStore.keys()].sort((a, b) => a - b)) groupRows(store, byStore.get(store)!, dict.keys.length, tokens);
  return restTokens(rest, dict, tokens);
}

// Reused between calls (the sync runs on one thread): for each row key id, the last
// of its ops seen (an index into the store's ops, -1 for none), and each op's previous one.
let lastOpOf = new Int32Array(0);
let previousOp = new Int32Array(0);
/** One row's ops in key-id order (its first `width` entries). */
const rowFields: SyncOp[] = [];

/**
 * One store's row-field sets as row groups, rows ascending, each group's
 * fields in key-id order. Ops are chained by row in typed arrays and only the
 * distinct row ids are sorted (numbers, no comparator): this runs for every
 * room at every tick, over every moved player's fields.
 */
function groupRows(store: number, ops: readonly SyncOp[], keys: number, tokens: unknown[]): void {
  if (lastOpOf.length < keys) lastOpOf = new Int32Array(Math.max(keys, lastOpOf.length * 2)).fill(-1);
  if (previousOp.length < ops.length) previousOp = new Int32Array(Math.max(ops.length, previousOp.length * 2));
  const rows: number[] = [];
  for (let j = 0; j < ops.length; j++) {
    const row = ops[j]!.rowId!;
    if (lastOpOf[row] === -1) rows.push(row);
    previousOp[j] = lastOpOf[row]!;
    lastOpOf[row] = j;
  }
  const ascending = Int32Array.from(rows).sort();
  const groups = new Map<string | number, { fields: number[]; rows: number[]; values: unknown[] }>();
  const fields = rowFields;
  for (const row of ascending) {
    // The row's ops (coalescing left one per field), put in key-id order as they are read: most rows have one to three.
    let width = 0;
    for (let j = lastOpOf[row]!; j !== -1; j = previousOp[j]!) {
      const op = ops[j]!;
      let k = width++;
      for (; k > 0 && fields[k - 1]!.fieldId! > op.fieldId!; k--) fields[k] = fields[k - 1]!;
      fields[k] = op;
    }
    lastOpOf[row] = -1;
    const key = fieldSetKey(fields, width);
    let group = groups.get(key);
    if (!group) {
      const ids: number[] = [];
      for (let k = 0; k < width; k++) ids.push(fields[k]!.fieldId!);
      groups.set(key, (group = { fields: ids, rows: [], values: [] }));
    }
    group.rows.push(row);
    for (let k = 0; k < width; k++) group.values.push(fields[k]!.value);
  }
  for (const { fields, rows: groupRows, values } of groups.values()) {
    tokens.push(OP.rows, store, fields, groupRows.length);
    let previous = 0;
    let v = 0;
    for (const row of groupRows) {
      tokens.push(row - previous);
      for (let k = 0; k < fields.length; k++) tokens.push(values[v++]);
      previous = row;
    }
  }
}

/** A name for a row's set of fields (the first `width` of `ops`, in key-id order): a number while it fits one exactly (most rows change a few of a table's first keys), else a string. */
function fieldSetKey(ops: readonly SyncOp[], width: number): number | string {
  if (width > 5) return fieldsText(ops, width);
  let key = 0;
  for (let k = 0; k < width; k++) {
    const field = ops[k]!.fieldId!;
    if (field >= 1023) return fieldsText(ops, width);
    key = key * 1024 + field + 1;
  }
  return key;
}

function fieldsText(ops: readonly SyncOp[], width: number): string {
  let text = '';
  for (let k = 0; k < width; k++) text += `${ops[k]!.fieldId!},`;
  return text;
}

/** Ops one by one, as [kind, path, value] tokens after `tokens`. */
function restTokens(ops: readonly SyncOp[], dict: KeyDictionary, tokens: unknown[]): unknown[] {
  for (const op of ops) {
    tokens.push(OP[op.kind], op.path.length === 1 && op.idsOf === dict ? [op.storeId!, op.rowId!] : encodePath(dict, op.store, op.path));
    if (op.kind !== 'remove') tokens.push(op.value);
  }
  return tokens;
}

export function sortedFields(fields: number[], values: unknown[]): { fields: number[]; values: unknown[] } {
  if (fields.length === 1 || (fields.length === 2 && fields[0]! < fields[1]!)) return { fields, values };
  const order = fields.map((_, i) => i).sort((a, b) => fields[a]! - fields[b]!);
  return { fields: order.map((i) => fields[i]!), values: order.map((i) => values[i]) };
}
