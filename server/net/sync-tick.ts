import type { IdBits } from './id-bits.ts';
import type { StoreRegistry } from '../store/registry.ts';
import { withoutWrites } from '../store/transaction.ts';
import type { Member } from './rooms.ts';
import type { SyncOp } from './sync-changes.ts';
import type { KeyDictionary } from './sync-encoding.ts';
import { PickedPieces, type RowPieces } from './sync-frame.ts';
import { MemberShare, PieceBudget } from './sync-joins.ts';
import { KnownRows, type KnownIds } from './known-rows.ts';
import { NearIndex, NearTick } from './sync-near.ts';
import { asTable, type ParsedView, type RowFilter, type Sight } from './sync-views.ts';

// One room's tick: which of the tick's changes each member gets, and which
// rows enter or leave its replica (a table's rows still to send after a
// join, a filter's verdicts, a radius around the member's own row).

export interface SyncOptions {
  /** A logic function by its name, as live now (filters are names). */
  resolve?: (name: string) => unknown;
  /** A filter threw: the row stays hidden, and the host says so. */
  onFilterError?: (name: string, err: unknown) => void;
  /** Bytes of whole rows a member gets per tick (sync-joins.ts). */
  pieceBytes?: number;
  /** Keys a room's dictionary may hold beyond twice its tables' rows before it starts again (rooms.ts); also the row slots a radius view's index may hold (sync-near.ts). */
  keysBeforeReset?: number;
}

/** A member's rows of one table: those its replica holds (null: all of them) and those still to send. */
export interface RowSight {
  known: KnownIds | null;
  pending: string[];
  /** Evaluate every row again (a join, a view change, a tick cut short by the budget). */
  recheck: boolean;
}

export interface Seat {
  member: Member;
  /** Commit number its snapshot already includes. */
  since: number;
  rows: Map<string, RowSight>;
  /** Hidden key ids (rows of tables seen per member) this member has been told. */
  taught: IdBits;
}

export interface Room {
  name: string;
  seats: Map<string, Seat>;
  view: ParsedView | null;
  dict: KeyDictionary;
  /** A filter's function as last seen, per store: a patch that changes it re-evaluates every row. */
  filters: Map<string, unknown>;
  /** Row slots of the tables seen through a radius (sync-near.ts), kept across ticks. */
  near: Map<string, NearIndex>;
}

/** Row slots a radius view's index may hold beyond twice its table's rows before it starts again. */
const NEAR_SLACK = 8192;

/** One room's tick: the ops every member sees, and each member's own share of rows. */
export class TickOfRoom {
  private readonly firstSeq: number;
  /** Op indices by store; by store and row for ops below a row, and for ops of whole rows (added, removed, replaced). */
  private readonly byStore = new Map<string, number[]>();
  private readonly byRow = new Map<string, Map<string, number[]>>();
  private readonly rowLevel = new Map<string, Map<string, number[]>>();
  private readonly nearTicks = new Map<string, NearTick>();
  private readonly filterFns = new Map<string, { fn: RowFilter | undefined; changed: boolean }>();

  constructor(
    private readonly room: Room,
    private readonly view: ParsedView,
    private readonly ops: readonly SyncOp[],
    private readonly registry: StoreRegistry,
    private readonly options: SyncOptions,
    /** The tick's row changes encoded once: a member's rows pick them without going through their ops. */
    private readonly pieces?: RowPieces,
  ) {
    this.firstSeq = ops.length > 0 ? ops[0]!.seq : Infinity;
    for (const [store, sight] of view) {
      if (sight.kind !== 'filter') continue;
      const live = options.resolve?.(sight.name);
      const fn = typeof live === 'function' ? (live as RowFilter) : undefined;
      this.filterFns.set(store, { fn, changed: fn !== room.filters.get(store) });
      // Said, not silent: a patch that renamed or removed the filter hides every row of the view from everyone.
      if (!fn && (ops.some((op) => op.store === store) || [...room.seats.values()].some((seat) => seat.rows.get(store)?.recheck))) {
        options.onFilterError?.(sight.name, new Error(`no live function is named ${sight.name} (renamed or removed by a patch?): every row of "${store}" stays hidden until one is, or the view changes`));
      }
    }
  }

  private indexed = false;
  /** What every member who gets the room's ops as they are is sent: one object for all of them. */
  private everyone: { key: '*'; ops: readonly SyncOp[] } | undefined;

  /**
   * Indexes the ops by store and row, the first time a member needs its own
   * share: a room where everyone is sent the same never does (at 1,000
   * players, a thousand arrays a tick for nothing).
   */
  private index(): void {
    if (this.indexed) return;
    this.indexed = true;
    const ops = this.ops;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      let list = this.byStore.get(op.store);
      if (!list) this.byStore.set(op.store, (list = []));
      list.push(i);
      if (op.path.length === 0) continue;
      const index = op.path.length === 1 ? this.rowLevel : this.byRow;
      let rows = index.get(op.store);
      if (!rows) index.set(op.store, (rows = new Map()));
      const row = String(op.path[0]);
      let at = rows.get(row);
      if (!at) rows.set(row, (at = []));
      at.push(i);
    }
  }

  /** Remembers the filters seen, so that the next tick re-evaluates only what changed. */
  done(): void {
    for (const [store, { fn }] of this.filterFns) this.room.filters.set(store, fn);
  }

  unfinished(seat: Seat): boolean {
    for (const sight of seat.rows.values()) if (sight.recheck || sight.pending.length > 0) return true;
    return false;
  }

  /** The pieces of the member being sorted (one list for the tick's members). */
  private readonly picked = new PickedPieces();

  /**
   * What `seat` is sent this tick: the room's ops as they are (key "*", the same object for all such members), or its
   * own ops and pieces (no key). Its pieces are read before the next member's are sorted (they share a list).
   */
  forSeat(seat: Seat): { key?: '*'; ops: readonly SyncOp[]; pieces?: PickedPieces } {
    let plain = seat.since < this.firstSeq;
    for (const sight of seat.rows.values()) plain &&= sight.known === null;
    if (plain) return (this.everyone ??= { key: '*', ops: this.ops });
    this.index();
    const share = new MemberShare(new PieceBudget(seat.member.queued(), this.options.pieceBytes));
    const out = share.out;
    // A member that joined mid-tick goes through ops, which say which commit made them.
    const pieces = seat.since < this.firstSeq && this.pieces ? this.picked.clear() : undefined;
    for (const i of this.candidates(seat, pieces)) {
      const op = this.ops[i]!;
      if (op.seq <= seat.since) continue;
      const sight = seat.rows.get(op.store);
      if (sight && !this.passes(op, sight, this.view.get(op.store)!)) continue;
      out.push(op);
    }
    for (const [store, sight] of seat.rows) {
      const spec = this.view.get(store)!;
      const table = asTable(this.registry.get(store));
      share.at(store, sight);
      if (spec.kind === 'rows') this.sendPending(sight, table, share);
      else if (spec.kind === 'near') this.sortNear(seat, store, spec, sight, table, pieces, share);
      else if (spec.kind === 'filter') this.sortFiltered(seat, store, sight, table, share);
    }
    // A member with a view or rows of its own is rarely sent what another is: encoded alone.
    return { ops: out, pieces };
  }

  private touched(store: string): boolean {
    return this.byRow.has(store) || this.rowLevel.has(store);
  }

  private readonly changed = new Map<string, Set<string>>();

  private rowsChanged(store: string): Set<string> | undefined {
    if (!this.touched(store)) return undefined;
    let rows = this.changed.get(store);
    if (!rows) this.changed.set(store, (rows = new Set([...(this.byRow.get(store)?.keys() ?? []), ...(this.rowLevel.get(store)?.keys() ?? [])])));
    return rows;
  }

  /**
   * The indices of the ops `seat` may get: everything of stores it sees
   * whole, and of its tables the ops of rows it holds and of rows added,
   * removed or replaced this tick. Proportional to what it sees, not to the
   * room. Ops of different rows commute (their paths are apart), so only each
   * row's own ops keep their order.
   */
  private candidates(seat: Seat, pieces: PickedPieces | undefined): number[] {
    const picked: number[] = [];
    for (const [store, list] of this.byStore) {
      const known = seat.rows.get(store)?.known;
      if (!known) {
        for (const i of list) picked.push(i);
        continue;
      }
      const rows = this.byRow.get(store);
      const level = this.rowLevel.get(store);
      if (level) for (const [row, at] of level) merge(at, rows?.get(row), picked);
      // A radius view picks its rows' changes as it sorts them (NearTick.sort).
      if (!rows || this.view.get(store)?.kind === 'near') continue;
      const ofRow = pieces && this.pieces!.rowsOf(store);
      // (Loops written out: a closure made per member and store costs a name-setting call under tsx, more than the loop.)
      if (known.size < rows.size) {
        for (const id of known) {
          if (level?.has(id)) continue;
          const piece = ofRow?.get(id);
          if (piece) pieces!.add(piece);
          else for (const i of rows.get(id) ?? []) picked.push(i);
        }
      } else {
        for (const [id, at] of rows) {
          if (!known.has(id) || level?.has(id)) continue;
          const piece = ofRow?.get(id);
          if (piece) pieces!.add(piece);
          else for (const i of at) picked.push(i);
        }
      }
    }
    return picked;
  }

  /** Whether a member whose replica holds `sight.known` of the table gets this op. */
  private passes(op: SyncOp, sight: RowSight, spec: Sight): boolean {
    if (sight.known === null) return true;
    const row = String(op.path[0]);
    if (op.path.length > 1) return sight.known.has(row);
    if (op.kind === 'remove') return sight.known.delete(row);
    // A new row (or one replaced whole): everyone who sees all rows gets it now; views decide below.
    if (spec.kind === 'rows') {
      sight.known.add(row);
      return true;
    }
    return sight.known.has(row);
  }

  private sendPending(sight: RowSight, table: ReturnType<typeof asTable>, share: MemberShare): void {
    sight.recheck = false;
    while (sight.pending.length > 0) {
      const id = sight.pending[sight.pending.length - 1]!;
      const row = table.get(id);
      if (row !== undefined && !sight.known!.has(id) && !share.enter(id, row)) return;
      sight.pending.pop();
    }
    sight.known = null;
  }

  private sortNear(seat: Seat, store: string, spec: Extract<Sight, { kind: 'near' }>, sight: RowSight, table: ReturnType<typeof asTable>, picked: PickedPieces | undefined, share: MemberShare): void {
    if (!sight.recheck && !this.touched(store)) return;
    // A member seen through a filter before (the view changed) keeps its rows, now with their slots.
    const tick = this.nearTick(store, spec, table);
    const known = sight.known instanceof KnownRows ? sight.known : (sight.known = KnownRows.from(sight.known ?? [], tick.index));
    sight.recheck = !tick.sort(known, table.get(seat.member.player), spec.radius, seat.since, picked, share);
  }

  /** The tick's radius index of `store`, built at the first member that needs it. */
  private nearTick(store: string, spec: Extract<Sight, { kind: 'near' }>, table: ReturnType<typeof asTable>): NearTick {
    let tick = this.nearTicks.get(store);
    if (tick) return tick;
    let index = this.room.near.get(store);
    if (!index || index.outgrown(this.options.keysBeforeReset ?? NEAR_SLACK, table.size)) this.room.near.set(store, (index = new NearIndex()));
    index.refresh(table, spec.cell);
    this.index();
    tick = new NearTick(index, store, this.room.dict, table, this.ops, this.byRow.get(store), this.rowLevel.get(store), this.pieces?.rowsOf(store));
    this.nearTicks.set(store, tick);
    return tick;
  }

  private sortFiltered(seat: Seat, store: string, sight: RowSight, table: ReturnType<typeof asTable>, share: MemberShare): void {
    const { fn, changed } = this.filterFns.get(store)!;
    const viewer = seat.member.player;
    const touched = this.rowsChanged(store);
    const all = sight.recheck || changed || touched?.has(viewer) === true;
    if (!all && !touched) return;
    sight.recheck = false;
    const candidates = all ? [...table.ids(), ...sight.known!] : touched!;
    // Once the budget is spent, rows stop coming in (the next tick goes on), but every row the filter hides still leaves now.
    let full = false;
    for (const id of candidates) {
      const row = table.get(id);
      const shown = row !== undefined && this.shows(fn, store, row, viewer);
      if (!shown) {
        if (sight.known!.has(id)) share.leave(id);
      } else if (!full && !sight.known!.has(id) && !share.enter(id, row)) full = true;
    }
    if (full) sight.recheck = true;
  }

  private shows(fn: RowFilter | undefined, store: string, row: unknown, viewer: string): boolean {
    if (!fn) return false;
    const name = (this.view.get(store) as { name: string }).name;
    try {
      const verdict: unknown = withoutWrites(`view filter ${name}`, () => fn(row, viewer));
      if (verdict === true || verdict === false) return verdict;
      if (verdict instanceof Promise) verdict.catch(() => undefined);
      throw new Error(`returned ${describeVerdict(verdict)}, not true or false`);
    } catch (err) {
      this.options.onFilterError?.(name, err);
      return false;
    }
  }
}

/** Two ascending lists of op indices, into `out` in order. */
function merge(a: readonly number[], b: readonly number[] | undefined, out: number[]): void {
  if (!b) {
    for (const i of a) out.push(i);
    return;
  }
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]! < b[j]!) ? a[i++]! : b[j++]!);
}

/** What a filter returned instead of a boolean, for the log line. */
function describeVerdict(verdict: unknown): string {
  if (verdict instanceof Promise) return 'a promise (filters must be synchronous)';
  if (verdict === undefined) return 'nothing';
  if (verdict === null) return 'null';
  if (typeof verdict === 'object') return 'an object';
  return `${typeof verdict} ${JSON.stringify(verdict) ?? String(verdict)}`;
}
