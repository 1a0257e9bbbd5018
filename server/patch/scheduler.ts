import { randomUUID } from 'node:crypto';
import { rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Table } from '../store/table.ts';
import { afterCommit, savepoint, transact } from '../store/transaction.ts';
import type { TimerService } from './dispatch.ts';
import { runEnded, runId, runStarted } from './busy.ts';
import { TimerHeap } from './timer-heap.ts';
import { hostClearTimeout, hostSetTimeout, wallNow } from '../host-globals.ts';

// Durable timers are data: each `ctx.schedule` is a row of the `$timers`
// table (a handler name, a time, a plain payload), so it is persisted with
// the stores, survives a restart, and always fires the code live at its time.
// One host timer waits for the earliest row. Ids are random UUIDs: built
// from the clock and a counter they could repeat after a clock step or a
// restart and overwrite a live timer.

// The host's own timers and clock (host-globals.ts): game logic replacing the
// globals (or Date.now) later cannot stop durable timers.
const now = wallNow;

export interface TimerRow {
  name: string;
  /** Epoch milliseconds when it is due. */
  at: number;
  payload: unknown;
  player: string | null;
}

export const TIMERS_STORE = '$timers';
const HANDLER_NAME = /^[\w-]+(\/[\w-]+)*\.[\w$]+$/;
const MAX_DELAY = 2 ** 31 - 1;

type Fire = (name: string, payload: unknown, player: string | null) => unknown;

export class Scheduler implements TimerService {
  private readonly heap = new TimerHeap();
  private handle: ReturnType<typeof setTimeout> | undefined;
  private armedAt = Infinity;
  private running = false;
  private readonly log = createLogger('timers');

  constructor(
    private readonly table: Table<TimerRow>,
    private readonly fire: Fire,
  ) {}

  schedule(delayMs: number, name: string, payload: unknown, player: string | null): string {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      throw rebindError('BAD_REQUEST', `ctx.schedule: delay must be a finite number of milliseconds >= 0, got ${String(delayMs)}`);
    }
    if (typeof name !== 'string' || !HANDLER_NAME.test(name)) {
      throw rebindError('BAD_HANDLER_NAME', `ctx.schedule: "${String(name)}" is not a handler name like "module.export"`);
    }
    const id = randomUUID();
    const at = now() + delayMs;
    this.table.set(id, { name, at, payload, player });
    afterCommit(() => this.push(id, at));
    return id;
  }

  cancel(id: string): boolean {
    if (!this.table.delete(id)) return false;
    // Only once the cancel commits: if its transaction fails, the timer stays.
    afterCommit(() => {
      this.heap.remove(id);
      if (this.heap.size === 0) this.arm();
    });
    return true;
  }

  /** How many due times the scheduler is holding (equal to pending, cancelled timers included none). */
  get queued(): number {
    return this.heap.size;
  }

  /** Arms every row of the table (after recovery); overdue rows fire at once, oldest first. */
  start(): void {
    this.running = true;
    this.heap.clear();
    for (const [id, row] of this.table.entries()) this.push(id, row.at);
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.handle) hostClearTimeout(this.handle);
    this.handle = undefined;
    this.armedAt = Infinity;
  }

  get pending(): number {
    return this.table.size;
  }

  private push(id: string, at: number): void {
    this.heap.push(id, at);
    if (at < this.armedAt) this.arm();
  }

  private arm(): void {
    if (!this.running) return;
    if (this.handle) hostClearTimeout(this.handle);
    const next = this.heap.peek();
    if (!next) {
      this.handle = undefined;
      this.armedAt = Infinity;
      return;
    }
    this.armedAt = next.at;
    this.handle = hostSetTimeout(() => this.run(), Math.min(MAX_DELAY, Math.max(0, next.at - now())));
  }

  private run(): void {
    this.handle = undefined;
    this.armedAt = Infinity;
    const time = now();
    while (this.heap.size > 0 && this.heap.peek()!.at <= time) {
      const { id, at } = this.heap.pop()!;
      const row = this.table.get(id);
      if (!row || row.at !== at) continue; // cancelled, or already fired
      this.fireRow(id, row);
    }
    this.arm();
  }

  private fireRow(id: string, row: TimerRow): void {
    // The handler runs inside the timer's own transaction, so it is watched from here.
    const run = runStarted(runId(row.name));
    try {
      transact(() => {
        this.table.delete(id);
        // The row goes whatever the handler does; only the handler's own writes are undone.
        try {
          const result = savepoint(() => this.fire(row.name, row.payload, row.player));
          if (result instanceof Promise) result.catch((err: unknown) => this.report(row.name, err));
        } catch (err) {
          this.report(row.name, err);
        }
      });
    } catch (err) {
      this.report(row.name, err);
    } finally {
      runEnded(run, row.name);
    }
  }

  private report(name: string, err: unknown): void {
    const code = (err as { code?: string }).code;
    this.log.error(`timer for ${name} failed${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
