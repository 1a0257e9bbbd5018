import { EncodedOnce } from './codec.ts';
import type { SyncOp } from './sync-changes.ts';
import { blockedBy, encodeOps, fieldIds, groupable, OP, opTokens, sortedFields, type KeyDictionary } from './sync-encoding.ts';
import { SyncWriter } from './sync-writer.ts';

// Each member of a room with a per-member view gets its own `$delta`, but
// most of it is the same rows' changes that others get too. So a tick
// encodes each changed row's values once (RowPieces), and a member's frame
// is its row groups' headers and gaps around copies of those bytes: the cost
// per member is a copy per row it sees, not an encoding. The frame is the
// one encodeOps would give (docs/protocol.md, "$delta"), rows sorted per group.

interface Piece {
  store: number;
  row: number;
  fields: number[];
  values: unknown[];
  /** Its row group (store and field ids), a number given in order of first sight this tick. */
  group: number;
  /** Its values' bytes in RowPieces.bytes. */
  start: number;
  end: number;
  /** The last member it was taken for (a row's several ops give one piece). */
  stamp: number;
  /** The commit of its earliest op: a member seated after it was not sent all of them (take). */
  firstSeq: number;
}

/** What one member is sent this tick, before the tick's new keys are known. */
/** A row's encoded change, as a member's candidate rows pick it (see TickOfRoom.candidates). */
export type RowPiece = Piece;

/**
 * The pieces chosen for one member, in a list that the tick's members share
 * (a list per member was most of the sync's garbage at a thousand members):
 * `take` reads them before the next member's are chosen.
 */
export class PickedPieces {
  private readonly list: Piece[] = [];
  count = 0;

  add(piece: Piece): void {
    this.list[this.count++] = piece;
  }

  at(i: number): Piece {
    return this.list[i]!;
  }

  clear(): this {
    this.count = 0;
    return this;
  }
}

export interface MemberDelta {
  groups: Piece[][];
  rest: unknown[];
  /** Ops whose tokens are written once for every member (wholeRowOp's: rows entering and leaving radius views), after `rest`. */
  shared: SyncOp[];
  /** The ops `rest` and `shared` encode (whole rows entering, removals, ...). */
  restOps: SyncOp[];
}

export class RowPieces {
  private readonly byOp = new Map<SyncOp, Piece>();
  /** Pieces by store name and row id. */
  private readonly byRow = new Map<string, Map<string, Piece>>();
  private bytes: Buffer = Buffer.alloc(0);
  private stamp = 0;
  private readonly writer = new SyncWriter();
  /** Each group's pieces by row key id. */
  private readonly groupRows: Piece[][] = [];

  private built = false;
  private rowsByGroup: GroupRows = { rows: [], counts: new Uint32Array(0) };

  /** The tick's row field writes that any member may get as a row group, encoded once (at the first member that needs them). */
  constructor(
    private readonly ops: readonly SyncOp[],
    private readonly dict: KeyDictionary,
  ) {}

  private build(): void {
    if (this.built) return;
    this.built = true;
    const { ops, dict } = this;
    const blocked = blockedBy(ops);
    const rows = new Map<string, { store: number; row: number; fields: number[]; values: unknown[]; ops: SyncOp[] }>();
    // Rows with a change below a field too (an item pushed to a list): a piece holds only their field sets, so such
    // a row is not picked by its piece alone (rowsOf); its ops go through take(), which sends the rest beside it.
    const mixed = new Map<string, Set<string>>();
    for (const op of ops) {
      if (!groupable(op, blocked)) {
        if (op.path.length > 1 && typeof op.path[0] === 'string') {
          let ofStore = mixed.get(op.store);
          if (!ofStore) mixed.set(op.store, (ofStore = new Set()));
          ofStore.add(op.path[0]);
        }
        continue;
      }
      const { storeId: store, rowId: row, fieldId: field } = fieldIds(op, dict);
      const key = `${store}:${row}`;
      let entry = rows.get(key);
      if (!entry) rows.set(key, (entry = { store, row, fields: [], values: [], ops: [] }));
      entry.fields.push(field);
      entry.values.push(op.value);
      entry.ops.push(op);
    }
    const w = new SyncWriter();
    const groupIds = new Map<string, number>();
    for (const entry of rows.values()) {
      const { fields, values } = sortedFields(entry.fields, entry.values);
      const start = w.length;
      for (const v of values) w.value(v);
      const name = `${entry.store}|${fields.join(',')}`;
      let group = groupIds.get(name);
      if (group === undefined) {
        groupIds.set(name, (group = this.groupRows.length));
        this.groupRows.push([]);
      }
      let firstSeq = Infinity;
      for (const op of entry.ops) firstSeq = Math.min(firstSeq, op.seq);
      const piece: Piece = { store: entry.store, row: entry.row, fields, values, group, start, end: w.length, stamp: 0, firstSeq };
      this.groupRows[group]![entry.row] = piece;
      for (const op of entry.ops) this.byOp.set(op, piece);
      const op = entry.ops[0]!;
      if (mixed.get(op.store)?.has(op.path[0] as string)) continue;
      let rowsOf = this.byRow.get(op.store);
      if (!rowsOf) this.byRow.set(op.store, (rowsOf = new Map()));
      rowsOf.set(op.path[0] as string, piece);
    }
    this.bytes = w.finish();
    this.rowsByGroup = { rows: [], counts: new Uint32Array(this.groupRows.length) };
  }

  /** The pieces of a store's rows, by row id. */
  rowsOf(store: string): Map<string, Piece> | undefined {
    this.build();
    return this.byRow.get(store);
  }

  /**
   * A member's share: its ops' pieces and `picked` (pieces chosen by row) by row group, rows
   * ascending; the rest encoded as tokens. `since`: the commit the member was seated at. A piece
   * holds every field its row was set to this tick, so a member seated after some of them gets its
   * own ops of that row instead: the piece would send a field's value from before its snapshot and
   * undo what the snapshot had (an item pushed to that field before the seat).
   */
  take(ops: readonly SyncOp[], dict: KeyDictionary, picked?: PickedPieces, since = -Infinity): MemberDelta {
    this.build();
    const stamp = ++this.stamp;
    // Each group's rows for this member, in arrays the tick's members share (one member's share is sorted before the next is taken).
    const rowsByGroup = this.rowsByGroup;
    rowsByGroup.counts.fill(0);
    const rest: SyncOp[] = [];
    const shared: SyncOp[] = [];
    for (let i = 0; i < (picked?.count ?? 0); i++) mark(picked!.at(i), stamp, rowsByGroup);
    for (const op of ops) {
      const piece = this.byOp.get(op);
      if (piece && piece.firstSeq > since) mark(piece, stamp, rowsByGroup);
      // (Written after the rest, as forSeat ordered them: a radius pass comes after the tick's changes it picked; other stores' ops commute with them.)
      else if (op.tokens && op.idsOf === dict) shared.push(op);
      else rest.push(op);
    }
    const groups: Piece[][] = [];
    for (let group = 0; group < rowsByGroup.counts.length; group++) {
      const count = rowsByGroup.counts[group]!;
      if (count > 0) groups.push(this.ascending(group, rowsByGroup.rows[group]!, count));
    }
    return { groups, rest: rest.length > 0 ? encodeOps(rest, dict) : [], shared, restOps: shared.length > 0 ? [...rest, ...shared] : rest };
  }

  /** A bit per row key id, all clear between calls of `ascending`. */
  private bits = new Uint32Array(0);

  /**
   * The pieces of a group's `rows` (distinct), rows ascending. Many rows of
   * a small room's keys are put in order by a bit per key; a few rows of a
   * large room's keys by a typed array's native sort. A comparator per pair
   * cost more than the rest of a member's frame.
   */
  private ascending(group: number, rows: readonly number[], count: number): Piece[] {
    const at = this.groupRows[group]!;
    const list: Piece[] = new Array(count);
    const words = (at.length >>> 5) + 1;
    if (count * 8 < words) {
      const sorted = new Float64Array(count);
      for (let i = 0; i < count; i++) sorted[i] = rows[i]!;
      sorted.sort();
      for (let i = 0; i < count; i++) list[i] = at[sorted[i]!]!;
      return list;
    }
    if (this.bits.length < words) this.bits = new Uint32Array(words);
    const bits = this.bits;
    for (let i = 0; i < count; i++) bits[rows[i]! >>> 5]! |= 1 << (rows[i]! & 31);
    let n = 0;
    for (let w = 0; w < words; w++) {
      let word = bits[w]!;
      if (word === 0) continue;
      bits[w] = 0;
      while (word !== 0) {
        const low = word & -word;
        list[n++] = at[(w << 5) + 31 - Math.clz32(low)]!;
        word ^= low;
      }
    }
    return list;
  }

  /** Whole rows entering view, encoded once per tick: a row that enters five members' views this tick is written once. Rows are frozen, so the same object is the same bytes. */
  private readonly encoded = new WeakMap<object, Buffer>();
  /** Where such a row is encoded before its bytes are kept (one buffer for the tick's rows, not one each). */
  private readonly alone = new SyncWriter();

  private value(w: SyncWriter, token: unknown): void {
    if (token === null || typeof token !== 'object' || Array.isArray(token)) return w.value(token);
    let bytes = this.encoded.get(token);
    if (!bytes) {
      const alone = this.alone;
      alone.reset();
      alone.value(token);
      this.encoded.set(token, (bytes = alone.finish()));
    }
    w.bytes(bytes, 0, bytes.length);
  }

  /** The `$delta` of one member's share, its MessagePack bytes written from the pieces. */
  frame(room: string, added: readonly unknown[], share: MemberDelta): EncodedOnce | undefined {
    const { groups, rest, shared } = share;
    if (groups.length === 0 && rest.length === 0 && shared.length === 0 && added.length === 0) return undefined;
    let tokens = 2 + rest.length;
    for (const op of shared) tokens += op.kind === 'remove' ? 2 : 3;
    for (const list of groups) tokens += 4 + list.length * (1 + list[0]!.fields.length);
    const w = this.writer;
    w.reset();
    // push('$delta', [room, added, ...tokens]): the same message encodeOps' tokens would make.
    w.arrayHeader(3);
    w.string('$delta');
    w.number(0);
    w.arrayHeader(tokens);
    w.string(room);
    w.value(added);
    for (const list of groups) {
      const first = list[0]!;
      w.number(OP.rows);
      w.number(first.store);
      w.value(first.fields);
      w.number(list.length);
      w.rowRun(list, this.bytes);
    }
    for (const token of rest) this.value(w, token);
    for (const op of shared) w.bytes(op.tokens!, 0, op.tokens!.length);
    return EncodedOnce.prebuilt('$delta', w.finish(), () => ['$delta', 0, [room, added, ...tokensOf(groups), ...rest, ...shared.flatMap(opTokens)]]);
  }
}

/** Puts `piece`'s row in its group's list, once per member (`stamp`). A function of the module: a closure made per member costs a name-setting call under tsx. */
function mark(piece: Piece, stamp: number, { rows, counts }: GroupRows): void {
  if (piece.stamp === stamp) return;
  piece.stamp = stamp;
  (rows[piece.group] ??= [])[counts[piece.group]!++] = piece.row;
}

/** Rows by group: `counts[g]` of `rows[g]` are this member's. */
interface GroupRows {
  rows: number[][];
  counts: Uint32Array;
}

function tokensOf(groups: Piece[][]): unknown[] {
  const out: unknown[] = [];
  for (const list of groups) {
    out.push(OP.rows, list[0]!.store, list[0]!.fields, list.length);
    let previous = 0;
    for (const piece of list) {
      out.push(piece.row - previous, ...piece.values);
      previous = piece.row;
    }
  }
  return out;
}
