import type { Table } from '../store/table.ts';
import type { SyncOp } from './sync-changes.ts';
import type { PickedPieces, RowPiece } from './sync-frame.ts';
import { grown, type KnownRows } from './known-rows.ts';
import { approxBytes, type MemberShare } from './sync-joins.ts';
import { wholeRowOp, type KeyDictionary } from './sync-encoding.ts';

// Radius views ({ near: { radius } }) at a thousand players: every member
// looks at the rows around it every tick, and each of those looks was a
// string hashed into a Set. Here a table's rows get small integer slots that
// stay theirs across ticks, each cell of the grid keeps its rows' positions
// side by side, and each member's rows are a bitset by slot (known-rows.ts):
// a member's tick is array reads. A row entering or leaving views has its op
// made once per tick, however many members it enters or leaves.

/** A table's row ids by slot, and this tick's positions on a grid of cells. */
export class NearIndex {
  private readonly slotOf = new Map<string, number>();
  readonly ids: string[] = [];
  /** Per slot, the last look (`stamp`) that found it within reach. */
  private marks = new Uint32Array(64);
  private stamp = 0;
  /** Cells by column, then row: each its rows' slots and positions, side by side (a look reads them in order). */
  private cells = new Map<number, Map<number, Cell>>();
  private cell = 1;
  /** The slots the last `around` found, `foundCount` of them (reused: copy what must outlive the next call). */
  found: Int32Array<ArrayBuffer> = new Int32Array(64);
  foundCount = 0;

  /** The slot of `id`, given now if it has none. */
  slot(id: string): number {
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.ids.length;
      this.slotOf.set(id, slot);
      this.ids.push(id);
      if (slot >= this.marks.length) this.grow(slot + 1);
    }
    return slot;
  }

  slotIfAny(id: string): number | undefined {
    return this.slotOf.get(id);
  }

  private grow(size: number): void {
    const marks = new Uint32Array(Math.max(size, this.marks.length * 2));
    marks.set(this.marks);
    this.marks = marks;
  }

  /** Slots given to rows no longer in the table, past `slack` beyond twice its `rows`: time for a new index. */
  outgrown(slack: number, rows: number): boolean {
    return this.ids.length > slack + 2 * rows;
  }

  /** Puts the table's rows as they are now on a grid of `cell`-sized cells: once per tick. */
  refresh(table: Table<unknown>, cell: number): void {
    this.cell = cell;
    this.cells = new Map();
    for (const [id, row] of table.entries()) {
      const at = position(row);
      if (!at) continue;
      const slot = this.slot(id);
      const i = Math.floor(at[0] / cell);
      const j = Math.floor(at[1] / cell);
      let column = this.cells.get(i);
      if (!column) this.cells.set(i, (column = new Map()));
      const list = column.get(j);
      if (list) list.slots.push(slot), list.xs.push(at[0]), list.ys.push(at[1]);
      else column.set(j, { slots: [slot], xs: [at[0]], ys: [at[1]] });
    }
  }

  /** The slots of the rows within `radius` of `viewer`'s position into `found` (none if it has none); `within(slot)` holds until the next call. */
  around(viewer: unknown, radius: number): void {
    this.foundCount = 0;
    const stamp = ++this.stamp;
    const at = position(viewer);
    if (!at) return;
    const [x, y] = at;
    const reach = Math.ceil(radius / this.cell);
    const cx = Math.floor(x / this.cell);
    const cy = Math.floor(y / this.cell);
    if (walkable(cx, reach, this.cells.size)) {
      for (let i = cx - reach; i <= cx + reach; i++) {
        const column = this.cells.get(i);
        if (column) this.column(column, cy, reach, x, y, radius, stamp);
      }
    } else {
      // More columns in reach than there are, or a position past where whole numbers are exact
      // (counting up from cx - reach would never end): every column, each row's distance decides.
      for (const [i, column] of this.cells) if (!Number.isSafeInteger(cx) || Math.abs(i - cx) <= reach) this.column(column, cy, reach, x, y, radius, stamp);
    }
  }

  private column(column: Map<number, Cell>, cy: number, reach: number, x: number, y: number, radius: number, stamp: number): void {
    if (walkable(cy, reach, column.size)) {
      for (let j = cy - reach; j <= cy + reach; j++) {
        const list = column.get(j);
        if (list) this.cellRows(list, x, y, radius, stamp);
      }
    } else for (const [j, list] of column) if (!Number.isSafeInteger(cy) || Math.abs(j - cy) <= reach) this.cellRows(list, x, y, radius, stamp);
  }

  private cellRows({ slots: list, xs, ys }: Cell, x: number, y: number, radius: number, stamp: number): void {
    const { marks } = this;
    const r2 = radius * radius;
    // A radius whose square overflows or underflows is compared by its length instead (slower, and exact).
    const squares = radius >= 1e-150 && radius <= 1e150;
    let n = this.foundCount;
    for (let k = 0; k < list.length; k++) {
      const dx = xs[k]! - x;
      const dy = ys[k]! - y;
      if (squares ? dx * dx + dy * dy > r2 : Math.hypot(dx, dy) > radius) continue;
      const slot = list[k]!;
      marks[slot] = stamp;
      if (n === this.found.length) this.found = grown(this.found, n + 1);
      this.found[n++] = slot;
    }
    this.foundCount = n;
  }

  /** Whether the last `around` found `slot`. */
  within(slot: number): boolean {
    return this.marks[slot] === this.stamp;
  }
}

interface Cell {
  slots: number[];
  xs: number[];
  ys: number[];
}

/**
 * Whether the cells from `at - reach` to `at + reach` can be counted one by
 * one: whole numbers that stay exact, and no more of them than the `occupied`
 * cells there are to look up instead.
 */
function walkable(at: number, reach: number, occupied: number): boolean {
  return Number.isSafeInteger(at - reach) && Number.isSafeInteger(at + reach) && 2 * reach + 1 <= occupied;
}

function position(row: unknown): [number, number] | undefined {
  if (row === null || typeof row !== 'object') return undefined;
  const { x, y } = row as { x?: unknown; y?: unknown };
  return typeof x === 'number' && typeof y === 'number' && Number.isFinite(x) && Number.isFinite(y) ? [x, y] : undefined;
}

/** One tick of a radius view of one table: what changed, by slot. */
export class NearTick {
  /** This tick's encoded change of each row that has one (sync-frame.ts), by slot: its row group (-1: none) and row key id. */
  private readonly pieceGroupAt: Int32Array;
  private readonly pieceRowAt: Int32Array;
  /** Rows with ops this tick, and rows added, removed or replaced whole (their ops go through TickOfRoom's merge). */
  private readonly changedAt: Uint8Array;
  private readonly wholeAt: Uint8Array;

  /** Each row's op of entering or leaving a member's view, and its size for the budget: made once per tick, whoever gets them. */
  private readonly enterOps: Array<SyncOp | undefined> = [];
  private readonly leaveOps: Array<SyncOp | undefined> = [];
  private readonly sizes: Float64Array;

  constructor(
    readonly index: NearIndex,
    private readonly store: string,
    private readonly dict: KeyDictionary,
    private readonly table: Table<unknown>,
    private readonly ops: readonly SyncOp[],
    private readonly byRow: Map<string, number[]> | undefined,
    rowLevel: Map<string, number[]> | undefined,
    pieces: Map<string, RowPiece> | undefined,
  ) {
    // Every changed row has its slot before the arrays by slot are sized (a row added this tick gets one here).
    for (const id of byRow?.keys() ?? []) index.slot(id);
    for (const id of rowLevel?.keys() ?? []) index.slot(id);
    const slots = index.ids.length;
    this.pieceGroupAt = new Int32Array(slots).fill(-1);
    this.pieceRowAt = new Int32Array(slots);
    this.changedAt = new Uint8Array(slots);
    this.wholeAt = new Uint8Array(slots);
    this.sizes = new Float64Array(slots);
    for (const id of byRow?.keys() ?? []) this.changedAt[index.slot(id)] = 1;
    for (const id of rowLevel?.keys() ?? []) this.wholeAt[index.slot(id)] = 1;
    for (const [id, piece] of pieces ?? []) {
      const slot = index.slotIfAny(id);
      if (slot === undefined) continue;
      this.pieceGroupAt[slot] = piece.group;
      this.pieceRowAt[slot] = piece.row;
    }
  }

  /**
   * Sorts one member's rows: those that left its radius are removed, the
   * changes of those it keeps go to `picked` (or their ops to `out`, for a
   * member that takes ops), and those that came within reach enter whole
   * while the share has room. Returns false when it ran out of room.
   */
  sort(known: KnownRows, viewer: unknown, radius: number, since: number, picked: PickedPieces | undefined, share: MemberShare): boolean {
    const { index } = this;
    known.attach(index);
    index.around(viewer, radius);
    known.keepFound(index);
    for (let i = 0; i < known.leavingCount; i++) {
      const slot = known.leaving[i]!;
      share.out.push((this.leaveOps[slot] ??= wholeRowOp(this.store, 'remove', index.ids[slot]!, undefined, this.dict)));
    }
    const { found, foundCount } = index;
    let entering = 0;
    for (let i = 0; i < foundCount; i++) {
      const slot = found[i]!;
      // (Those entering are gathered at the front of `found`, which is read from i on.)
      if (!known.hasSlot(slot)) found[entering++] = slot;
      // A row added, removed or replaced this tick was sorted with the room's ops (TickOfRoom.candidates).
      else if (this.wholeAt[slot] !== 1 && this.changedAt[slot] === 1) this.changes(slot, since, picked, share.out);
    }
    for (let i = 0; i < entering; i++) {
      const slot = found[i]!;
      const op = (this.enterOps[slot] ??= wholeRowOp(this.store, 'set', index.ids[slot]!, this.table.get(index.ids[slot]!), this.dict));
      if (!share.fits((this.sizes[slot] ||= approxBytes(op.value)))) return false;
      known.addAt(slot);
      share.out.push(op);
    }
    return true;
  }

  private changes(slot: number, since: number, picked: PickedPieces | undefined, out: SyncOp[]): void {
    const group = picked ? this.pieceGroupAt[slot]! : -1;
    if (group >= 0) {
      picked!.addRow(group, this.pieceRowAt[slot]!);
      return;
    }
    for (const i of this.byRow!.get(this.index.ids[slot]!)!) {
      const op = this.ops[i]!;
      if (op.seq > since) out.push(op);
    }
  }
}
