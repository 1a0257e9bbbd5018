import { rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Table } from '../store/table.ts';
import { afterCommit, savepoint, transact } from '../store/transaction.ts';
import type { TimerService } from './dispatch.ts';

// Durable timers are data: each `ctx.schedule` is a row of the `$timers`
// table (a handler name, a time, a plain payload), so it is persisted with
// the stores, survives a restart, and always fires the code live at its time.
// One host timer waits for the earliest row.

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
  private heap: Array<{ at: number; id: string }> = [];
  private handle: ReturnType<typeof setTimeout> | undefined;
  private armedAt = Infinity;
  private seq = 0;
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
    const id = `${Date.now().toString(36)}-${(++this.seq).toString(36)}`;
    const at = Date.now() + delayMs;
    this.table.set(id, { name, at, payload, player });
    afterCommit(() => this.push(id, at));
    return id;
  }

  cancel(id: string): boolean {
    return this.table.delete(id);
  }

  /** Arms every row of the table (after recovery); overdue rows fire at once, oldest first. */
  start(): void {
    this.running = true;
    this.heap = [];
    for (const [id, row] of this.table.entries()) this.push(id, row.at);
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
    this.armedAt = Infinity;
  }

  get pending(): number {
    return this.table.size;
  }

  private push(id: string, at: number): void {
    const heap = this.heap;
    heap.push({ at, id });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    if (at < this.armedAt) this.arm();
  }

  private pop(): { at: number; id: string } | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < heap.length && heap[l]!.at < heap[min]!.at) min = l;
        if (r < heap.length && heap[r]!.at < heap[min]!.at) min = r;
        if (min === i) break;
        [heap[min], heap[i]] = [heap[i]!, heap[min]!];
        i = min;
      }
    }
    return top;
  }

  private arm(): void {
    if (!this.running) return;
    if (this.handle) clearTimeout(this.handle);
    const next = this.heap[0];
    if (!next) {
      this.handle = undefined;
      this.armedAt = Infinity;
      return;
    }
    this.armedAt = next.at;
    this.handle = setTimeout(() => this.run(), Math.min(MAX_DELAY, Math.max(0, next.at - Date.now())));
  }

  private run(): void {
    this.handle = undefined;
    this.armedAt = Infinity;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { id, at } = this.pop()!;
      const row = this.table.get(id);
      if (!row || row.at !== at) continue; // cancelled, or already fired
      this.fireRow(id, row);
    }
    this.arm();
  }

  private fireRow(id: string, row: TimerRow): void {
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
    }
  }

  private report(name: string, err: unknown): void {
    const code = (err as { code?: string }).code;
    this.log.error(`timer for ${name} failed${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
