import { setOwn } from '../../client/replica.ts';
import { syncOp, type SyncOp } from './sync-changes.ts';
import type { RowSight } from './sync-tick.ts';
import type { Table } from '../store/table.ts';

// Rows reach a member a few at a time: a joiner of a room of 3,000 players
// gets them over a few ticks, each tick's share small enough that the
// slow-client limit (backpressure.ts) never sees a burst, and nothing while
// what was sent before still waits in its socket. Everyone else meanwhile
// gets only the changes (the new player's row among them).

/** Bytes of whole rows a member is sent per tick. */
export const PIECE_BYTES = 256 * 1024;
/** Bytes still queued for a member above which it gets no rows this tick. */
export const PIECE_QUEUE_LIMIT = 512 * 1024;

/** A cheap upper estimate of a value's MessagePack size, stopping once past `limit`. */
export function approxBytes(value: unknown, limit = Infinity): number {
  switch (typeof value) {
    case 'number':
      return 9;
    case 'string':
      return value.length * 3 + 5;
    case 'boolean':
    case 'undefined':
      return 1;
  }
  if (value === null) return 1;
  let total = 5;
  if (Array.isArray(value)) {
    for (const item of value) if ((total += approxBytes(item, limit - total)) > limit) return total;
    return total;
  }
  for (const key of Object.keys(value as object)) {
    total += key.length * 3 + 5 + approxBytes((value as Record<string, unknown>)[key], limit - total);
    if (total > limit) return total;
  }
  return total;
}

/** How many more bytes of rows a member may get this tick. */
export class PieceBudget {
  private left: number;
  constructor(queued: number, bytes = PIECE_BYTES) {
    this.left = queued > PIECE_QUEUE_LIMIT ? 0 : bytes;
  }
  /** Takes room for `row`; false when the tick's share is spent (one row always fits a fresh budget). */
  take(row: unknown): boolean {
    return this.left > 0 && this.takeBytes(approxBytes(row, this.left + 1));
  }

  /** Takes room for a row of `bytes` (approxBytes) measured before. */
  takeBytes(bytes: number): boolean {
    if (this.left <= 0) return false;
    this.left -= bytes;
    return true;
  }
}

/**
 * One member's ops of a tick as they are sorted, store after store (`at`):
 * rows entering its replica whole while the tick's budget lasts, rows
 * leaving it. One object per member, where closures per member and store
 * cost more than the sorting itself at a thousand members.
 */
export class MemberShare {
  readonly out: SyncOp[] = [];
  private store = '';
  private sight: RowSight | undefined;

  constructor(private readonly budget: PieceBudget) {}

  /** Takes room for a row of `bytes` that enters through an op of the caller's (a radius view's, made once per tick). */
  fits(bytes: number): boolean {
    return this.budget.takeBytes(bytes);
  }

  at(store: string, sight: RowSight): this {
    this.store = store;
    this.sight = sight;
    return this;
  }

  /** Sends `row` whole, if the budget has room for it. */
  enter(id: string, row: unknown): boolean {
    if (!this.budget.take(row)) return false;
    this.sight!.known!.add(id);
    this.out.push(syncOp(this.store, 'set', [id], row, Infinity));
    return true;
  }

  leave(id: string): void {
    this.sight!.known!.delete(id);
    this.out.push(syncOp(this.store, 'remove', [id], undefined, Infinity));
  }
}

/** A table's rows for a `$state`, as many as one piece holds; the rest follow at the next ticks. */
export function firstPiece(table: Table<unknown>, pieceBytes?: number): { rows: Record<string, unknown>; sight: RowSight } {
  const budget = new PieceBudget(0, pieceBytes);
  const rows: Record<string, unknown> = {};
  const known = new Set<string>();
  const pending: string[] = [];
  for (const [id, row] of table.entries()) {
    if (pending.length === 0 && budget.take(row)) {
      setOwn(rows, id, row);
      known.add(id);
    } else pending.push(id);
  }
  return { rows, sight: pending.length === 0 ? { known: null, pending, recheck: false } : { known, pending, recheck: true } };
}
