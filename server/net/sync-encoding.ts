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

/** A row field's set that may travel in a row group: nothing else this tick writes the row or the store itself. */
function groupable(op: SyncOp, blocked: Set<string>): boolean {
  return op.kind === 'set' && op.path.length === 2 && typeof op.path[0] === 'string' && typeof op.path[1] === 'string' && !blocked.has(op.store) && !blocked.has(`${op.store}\u0000${op.path[0]}`);
}

export function encodeOps(ops: readonly SyncOp[], dict: KeyDictionary): unknown[] {
  const blocked = new Set<string>();
  for (const op of ops) {
    if (op.path.length === 0) blocked.add(op.store);
    else if (op.path.length === 1) blocked.add(`${op.store}\u0000${String(op.path[0])}`);
  }
  // store id -> row id -> [field id, value][]
  const rows = new Map<number, Map<number, Array<[number, unknown]>>>();
  const rest: SyncOp[] = [];
  for (const op of ops) {
    if (!groupable(op, blocked)) {
      rest.push(op);
      continue;
    }
    const store = dict.id(op.store);
    let byRow = rows.get(store);
    if (!byRow) rows.set(store, (byRow = new Map()));
    const row = dict.id(op.path[0] as string);
    let fields = byRow.get(row);
    if (!fields) byRow.set(row, (fields = []));
    fields.push([dict.id(op.path[1] as string), op.value]);
  }
  const tokens: unknown[] = [];
  for (const [store, byRow] of rows) {
    const groups = new Map<string, { fields: number[]; rows: Array<[number, unknown[]]> }>();
    for (const [row, fields] of byRow) {
      fields.sort((a, b) => a[0] - b[0]);
      const ids = fields.map((f) => f[0]);
      const key = ids.join(',');
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { fields: ids, rows: [] }));
      group.rows.push([row, fields.map((f) => f[1])]);
    }
    for (const group of groups.values()) {
      group.rows.sort((a, b) => a[0] - b[0]);
      tokens.push(OP.rows, store, group.fields, group.rows.length);
      let previous = 0;
      for (const [row, values] of group.rows) {
        tokens.push(row - previous, ...values);
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
