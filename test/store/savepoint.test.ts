import { describe, expect, it } from 'vitest';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { savepoint, transact } from '../../server/store/transaction.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// A savepoint (every ctx.call opens one) must undo exactly what its own call
// wrote, and cost what that call wrote, not what the transaction staged before.

function rows(n: number): Record<string, { x: number }> {
  const out: Record<string, { x: number }> = {};
  for (let i = 0; i < n; i++) out[`r${i}`] = { x: 0 };
  return out;
}

describe('savepoints', () => {
  it('undo only the failed call: rows, deletes, new rows and a value store', () => {
    const t = defineTable<{ x: number }>('sp-rows', { rows: rows(3) });
    const s = defineStore('sp-value', { n: 0 });
    transact(() => {
      t.update('r0', (d) => void (d.x = 1));
      s.update((d) => void (d.n = 1));
      expect(() =>
        savepoint(() => {
          t.update('r0', (d) => void (d.x = 2));
          t.update('r0', (d) => void (d.x = 3));
          t.delete('r1');
          t.set('new', { x: 9 });
          s.update((d) => void (d.n = 2));
          throw new Error('nested call failed');
        }),
      ).toThrow('nested call failed');
      expect(t.get('r0')).toEqual({ x: 1 });
      expect(t.has('r1')).toBe(true);
      expect(t.has('new')).toBe(false);
      expect(t.size).toBe(3);
      expect(s.get().n).toBe(1);
    });
    expect(t.toObject()).toEqual({ r0: { x: 1 }, r1: { x: 0 }, r2: { x: 0 } });
    expect(s.get().n).toBe(1);
  });

  it('a caller that fails after its nested call succeeded undoes the nested writes too', () => {
    const t = defineTable<{ x: number }>('sp-nested', { rows: rows(2) });
    const s = defineStore('sp-nested-value', { n: 0 });
    transact(() => {
      t.update('r0', (d) => void (d.x = 1));
      expect(() =>
        savepoint(() => {
          savepoint(() => {
            t.update('r0', (d) => void (d.x = 5));
            t.update('r1', (d) => void (d.x = 5));
            t.set('fresh', { x: 1 });
            s.update((d) => void (d.n = 5));
          });
          savepoint(() => t.update('r1', (d) => void (d.x = 6)));
          throw new Error('outer nested call failed');
        }),
      ).toThrow();
      expect(t.toObject()).toEqual({ r0: { x: 1 }, r1: { x: 0 } });
      expect(s.get().n).toBe(0);
      // A later savepoint that fails leaves the earlier successful one's writes.
      savepoint(() => t.update('r1', (d) => void (d.x = 7)));
      expect(() => savepoint(() => (t.update('r1', (d) => void (d.x = 8)), fail()))).toThrow();
      expect(t.get('r1')).toEqual({ x: 7 });
    });
    expect(t.toObject()).toEqual({ r0: { x: 1 }, r1: { x: 7 } });
  });

  it('costs what the nested call writes: one savepoint per row is not quadratic in the rows staged before', () => {
    const n = 10_000;
    const run = (nested: boolean): number => {
      const t = defineTable<{ x: number }>(`sp-cost-${nested}-${Math.random()}`, { rows: rows(n) });
      const t0 = performance.now();
      transact(() => {
        for (let i = 0; i < n; i++) {
          if (nested) savepoint(() => t.update(`r${i}`, (d) => void (d.x += 1)));
          else t.update(`r${i}`, (d) => void (d.x += 1));
        }
      });
      return performance.now() - t0;
    };
    const best = (nested: boolean) => Math.min(run(nested), run(nested), run(nested));
    const flat = best(false);
    const nested = best(true);
    // Cloning every staged row at each savepoint (the old way) made this about
    // 50 to 100 times slower than the flat loop at 10,000 rows; an undo log keeps it
    // within a small factor. The bound is generous so that a loaded machine
    // cannot fail it, and still an order of magnitude under the quadratic cost.
    expect(nested).toBeLessThan(flat * 3 + 50);
  });
});

function fail(): never {
  throw new Error('fail');
}
