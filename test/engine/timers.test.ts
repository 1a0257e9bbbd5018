import { afterEach, expect, it, vi } from 'vitest';
import { Scheduler, type TimerRow } from '../../server/patch/scheduler.ts';
import { Table } from '../../server/store/table.ts';
import { transact } from '../../server/store/transaction.ts';

// Durable timers: a cancelled one leaves the scheduler at once, and ids never
// collide, whatever the clock does and however often the process restarts.

const open: Scheduler[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.stop();
  vi.restoreAllMocks();
});

function scheduler(table = new Table<TimerRow>('$timers')): { s: Scheduler; table: Table<TimerRow>; fired: string[] } {
  const fired: string[] = [];
  const s = new Scheduler(table, (name) => void fired.push(name));
  open.push(s);
  s.start();
  return { s, table, fired };
}

it('forgets cancelled timers at once: 20,000 cancelled one-hour timers leave 1 queued', () => {
  const { s } = scheduler();
  const ids = transact(() => Array.from({ length: 20_001 }, () => s.schedule(3_600_000, 'm.later', null, null)));
  transact(() => {
    for (const id of ids.slice(1)) expect(s.cancel(id)).toBe(true);
  });
  expect(s.pending).toBe(1);
  expect(s.queued).toBe(1);
});

it('keeps a cancelled timer queued if the cancelling transaction fails', () => {
  const { s } = scheduler();
  const id = s.schedule(3_600_000, 'm.later', null, null);
  expect(() =>
    transact(() => {
      s.cancel(id);
      throw new Error('the handler failed after cancelling');
    }),
  ).toThrow();
  expect(s.pending).toBe(1);
  expect(s.queued).toBe(1);
});

it('fires the right timers after some were cancelled out of the middle of the queue', async () => {
  const { s, fired } = scheduler();
  const ids = transact(() => [10, 20, 30, 40, 50].map((ms, i) => s.schedule(ms, `m.t${i}`, null, null)));
  transact(() => {
    s.cancel(ids[1]!);
    s.cancel(ids[3]!);
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(fired).toEqual(['m.t0', 'm.t2', 'm.t4']);
});

it('never reuses an id after a clock step back or a restart', () => {
  const table = new Table<TimerRow>('$timers');
  vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
  const first = scheduler(table);
  const a = first.s.schedule(60_000, 'm.a', null, null);
  first.s.stop();
  // A restart: a new scheduler over the same rows, at the same clock reading.
  const second = scheduler(table);
  const b = second.s.schedule(60_000, 'm.b', null, null);
  expect(b).not.toBe(a);
  expect(table.size).toBe(2);
  expect(table.get(a)?.name).toBe('m.a');
});
