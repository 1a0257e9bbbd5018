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
  /** The commit of its earliest op: a member seated after it was not sent all of them (take). */
  firstSeq: number;
}

/** What one member is sent this tick, before the tick's new keys are known. */
/** A row's encoded change, as a member's candidate rows pick it (see TickOfRoom.candidates). */
export type RowPiece = Piece;

/**
 * The pieces chosen for one member: a bit per row in each row group, so a
 * row picked twice (its piece by row and by op) is one bit, and its frame
 * reads the rows in order from the bits, with no list to sort. One for the
 * tick's members (a list per member was most of the sync's garbage at a
 * thousand members): `take` reads and clears it before the next member's.
 */
export class PickedPieces {
  private readonly bits: Uint32Array[] = [];
  /** Rows picked in each group. */
  private readonly counts: number[] = [];
  /** Rows picked in all groups. */
  count = 0;

  add(piece: Piece): void {
    this.addRow(piece.group, piece.row);
  }

  /** Picks the piece of `row` (a key id) in `group`. */
  addRow(group: number, row: number): void {
    const word = row >>> 5;
    let bits = this.bits[group];
    if (!bits || word >= bits.length) bits = this.grow(group, word + 1);
    const bit = 1 << (row & 31);
    if ((bits[word]! & bit) !== 0) return;
    bits[word]! |= bit;
    this.counts[group] = (this.counts[group] ?? 0) + 1;
    this.count++;
  }

  private grow(group: number, words: number): Uint32Array {
    const old = this.bits[group];
    const bits = new Uint32Array(Math.max(words, (old?.length ?? 0) * 2, 32));
    if (old) bits.set(old);
    return (this.bits[group] = bits);
  }

  groups(): number {
    return this.counts.length;
  }

  /** Rows picked in `group`. */
  countOf(group: number): number {
    return this.counts[group] ?? 0;
  }

  /** The bits of `group` (row key ids), which the reader clears as it goes (takeGroup). */
  bitsOf(group: number): Uint32Array {
    return this.bits[group]!;
  }

  /** Marks `group` read: its bits were cleared by the reader. */
  tookGroup(group: number): void {
    this.count -= this.counts[group]!;
    this.counts[group] = 0;
  }

  clear(): this {
    for (let group = 0; group < this.counts.length; group++) if (this.counts[group]) this.bits[group]!.fill(0);
    this.counts.fill(0);
    this.count = 0;
    return this;
  }
}

/** One row group of a member's frame: its rows, ascending, in the tick's `rowIds[from, to)` (for the JSON form). */
interface GroupRun {
  group: number;
  from: number;
  to: number;
}

export interface MemberDelta {
  /** Its row groups, already written in the tick's `body` at [bodyStart, bodyEnd): `groupTokens` tokens. */
  bodyStart: number;
  bodyEnd: number;
  groupTokens: number;
  /** Which rows of which groups those are (the JSON form is built from them). */
  runs: GroupRun[];
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
  private readonly writer = new SyncWriter();
  /** Each group's pieces by row key id. */
  private readonly groupRows: Piece[][] = [];
  /** Each group's pieces' bytes in `bytes` by row key id: [start, end) (typed arrays, read for every row of every member's frame). */
  private readonly groupSpans: Int32Array[] = [];
  /** Each group's store and fields (its pieces'). */
  private readonly groupHeads: Array<{ store: number; fields: number[] }> = [];
  /** The row groups of the members' frames, written as each member is taken (frames are written once all are, see frame). */
  private readonly body = new SyncWriter();
  /** The rows of the members' row groups, in the order written (one array for the tick, not one per member). */
  private rowIds = new Int32Array(1024);
  private rowIdsUsed = 0;
  /** Picks of a member taken by its ops alone. */
  private readonly byOps = new PickedPieces();

  private built = false;

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
        this.groupHeads.push({ store: entry.store, fields });
      }
      let firstSeq = Infinity;
      for (const op of entry.ops) firstSeq = Math.min(firstSeq, op.seq);
      const piece: Piece = { store: entry.store, row: entry.row, fields, values, group, start, end: w.length, firstSeq };
      this.groupRows[group]![entry.row] = piece;
      for (const op of entry.ops) this.byOp.set(op, piece);
      const op = entry.ops[0]!;
      if (mixed.get(op.store)?.has(op.path[0] as string)) continue;
      let rowsOf = this.byRow.get(op.store);
      if (!rowsOf) this.byRow.set(op.store, (rowsOf = new Map()));
      rowsOf.set(op.path[0] as string, piece);
    }
    this.bytes = w.finish();
    for (const pieces of this.groupRows) {
      const spans = new Int32Array(2 * pieces.length);
      for (const piece of pieces) if (piece) (spans[2 * piece.row] = piece.start), (spans[2 * piece.row + 1] = piece.end);
      this.groupSpans.push(spans);
    }
  }

  /** The pieces of a store's rows, by row id. */
  rowsOf(store: string): Map<string, Piece> | undefined {
    this.build();
    return this.byRow.get(store);
  }

  /**
   * A member's share: its ops' pieces and `picked` (pieces chosen by row) by row group, rows
   * ascending, written now into the tick's body; the rest encoded as tokens. `since`: the commit the
   * member was seated at. A piece holds every field its row was set to this tick, so a member seated
   * after some of them gets its own ops of that row instead: the piece would send a field's value
   * from before its snapshot and undo what the snapshot had (an item pushed to that field before the seat).
   */
  take(ops: readonly SyncOp[], dict: KeyDictionary, picked?: PickedPieces, since = -Infinity): MemberDelta {
    this.build();
    const chosen = picked ?? this.byOps.clear();
    const rest: SyncOp[] = [];
    const shared: SyncOp[] = [];
    for (const op of ops) {
      const piece = this.byOp.get(op);
      if (piece && piece.firstSeq > since) chosen.add(piece);
      // (Written after the rest, as forSeat ordered them: a radius pass comes after the tick's changes it picked; other stores' ops commute with them.)
      else if (op.tokens && op.idsOf === dict) shared.push(op);
      else rest.push(op);
    }
    const { body } = this;
    const bodyStart = body.length;
    if (this.rowIds.length < this.rowIdsUsed + chosen.count) {
      const grown = new Int32Array(Math.max(this.rowIdsUsed + chosen.count, 2 * this.rowIds.length));
      grown.set(this.rowIds.subarray(0, this.rowIdsUsed));
      this.rowIds = grown;
    }
    const runs: GroupRun[] = [];
    let groupTokens = 0;
    for (let group = 0; group < chosen.groups(); group++) {
      const count = chosen.countOf(group);
      if (count === 0) continue;
      const { store, fields } = this.groupHeads[group]!;
      body.number(OP.rows);
      body.number(store);
      body.value(fields);
      body.number(count);
      const from = this.rowIdsUsed;
      body.rowsByBits(chosen.bitsOf(group), count, this.groupSpans[group]!, this.bytes, this.rowIds, from);
      chosen.tookGroup(group);
      this.rowIdsUsed += count;
      runs.push({ group, from, to: this.rowIdsUsed });
      groupTokens += 4 + count * (1 + fields.length);
    }
    return { bodyStart, bodyEnd: body.length, groupTokens, runs, rest: rest.length > 0 ? encodeOps(rest, dict) : [], shared, restOps: shared.length > 0 ? [...rest, ...shared] : rest };
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
    const { runs, rest, shared } = share;
    if (runs.length === 0 && rest.length === 0 && shared.length === 0 && added.length === 0) return undefined;
    let tokens = 2 + share.groupTokens + rest.length;
    for (const op of shared) tokens += op.kind === 'remove' ? 2 : 3;
    const w = this.writer;
    w.reset();
    // push('$delta', [room, added, ...tokens]): the same message encodeOps' tokens would make.
    w.arrayHeader(3);
    w.string('$delta');
    w.number(0);
    w.arrayHeader(tokens);
    w.string(room);
    w.value(added);
    w.copyOf(this.body, share.bodyStart, share.bodyEnd);
    for (const token of rest) this.value(w, token);
    for (const op of shared) w.bytes(op.tokens!, 0, op.tokens!.length);
    return EncodedOnce.prebuilt('$delta', w.finish(), () => ['$delta', 0, [room, added, ...this.groupTokensOf(share), ...rest, ...shared.flatMap(opTokens)]]);
  }

  /** A member's row groups as tokens (its JSON form). */
  private groupTokensOf({ runs }: MemberDelta): unknown[] {
    const out: unknown[] = [];
    for (const { group, from, to } of runs) {
      const { store, fields } = this.groupHeads[group]!;
      out.push(OP.rows, store, fields, to - from);
      let previous = 0;
      for (let i = from; i < to; i++) {
        const piece = this.groupRows[group]![this.rowIds[i]!]!;
        out.push(piece.row - previous, ...piece.values);
        previous = piece.row;
      }
    }
    return out;
  }
}
