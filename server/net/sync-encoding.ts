import type { SyncOp } from './sync-changes.ts';

// The compact delta (docs/protocol.md, "$delta"): a flat list of tokens.
// Every string of a path is a small integer from the room's dictionary (the
// client learns each key once, from `$state` or from a delta's new keys); an
// array index i is written -1 - i. Table fields set this tick travel as row
// groups: the fields named once, then per row the gap to the previous row's
// key id and the values, so a player who moved costs about 11 bytes.

export const OP = { set: 0, remove: 1, insert: 2, trim: 3, rows: 4 } as const;

export class KeyDictionary {
  private readonly ids = new Map<string, number>();
  readonly keys: string[] = [];
  private told = 0;

  id(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.keys.length;
      this.ids.set(key, id);
      this.keys.push(key);
    }
    return id;
  }

  /** Keys added since the last call: every member learns them with this tick's deltas. */
  takeNew(): string[] {
    const added = this.keys.slice(this.told);
    this.told = this.keys.length;
    return added;
  }

  /** All keys, for a `$state`; marks them told (a snapshot is sent between ticks, after takeNew). */
  all(): string[] {
    return this.keys.slice(0, this.told);
  }
}

function encodePath(dict: KeyDictionary, store: string, path: ReadonlyArray<string | number>): number[] {
  const out = [dict.id(store)];
  for (const key of path) out.push(typeof key === 'number' ? -1 - key : dict.id(key));
  return out;
}

/** Key ids of an op's store, row and field, found once per room and tick however many members get the op. */
export function fieldIds(op: SyncOp, dict: KeyDictionary): [number, number, number] {
  if (op.idsOf === dict) return op.ids!;
  op.idsOf = dict;
  return (op.ids = [dict.id(op.store), dict.id(op.path[0] as string), dict.id(op.path[1] as string)]);
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
  const blocked = blockedBy(ops);
  // store id -> row id -> field ids and values, in the order set
  const rows = new Map<number, Map<number, { fields: number[]; values: unknown[] }>>();
  const rest: SyncOp[] = [];
  for (const op of ops) {
    if (!groupable(op, blocked)) {
      rest.push(op);
      continue;
    }
    const [store, row, field] = fieldIds(op, dict);
    let byRow = rows.get(store);
    if (!byRow) rows.set(store, (byRow = new Map()));
    const entry = byRow.get(row);
    if (entry) {
      entry.fields.push(field);
      entry.values.push(op.value);
    } else byRow.set(row, { fields: [field], values: [op.value] });
  }
  const tokens: unknown[] = [];
  for (const [store, byRow] of rows) {
    const groups = new Map<string | number, { fields: number[]; rows: Array<[number, unknown[]]> }>();
    for (const [row, entry] of byRow) {
      const { fields, values } = sortedFields(entry.fields, entry.values);
      // Most rows change one or two fields: a number names the set without building a string.
      const key = fields.length === 1 ? fields[0]! : fields.length === 2 ? fields[0]! * 0x100000 + fields[1]! : fields.join(',');
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { fields, rows: [] }));
      group.rows.push([row, values]);
    }
    for (const group of groups.values()) {
      group.rows.sort((a, b) => a[0] - b[0]);
      tokens.push(OP.rows, store, group.fields, group.rows.length);
      let previous = 0;
      for (const [row, values] of group.rows) {
        tokens.push(row - previous);
        for (const v of values) tokens.push(v);
        previous = row;
      }
    }
  }
  for (const op of rest) {
    tokens.push(OP[op.kind], encodePath(dict, op.store, op.path));
    if (op.kind !== 'remove') tokens.push(op.value);
  }
  return tokens;
}

export function sortedFields(fields: number[], values: unknown[]): { fields: number[]; values: unknown[] } {
  if (fields.length === 1 || (fields.length === 2 && fields[0]! < fields[1]!)) return { fields, values };
  const order = fields.map((_, i) => i).sort((a, b) => fields[a]! - fields[b]!);
  return { fields: order.map((i) => fields[i]!), values: order.map((i) => values[i]) };
}
