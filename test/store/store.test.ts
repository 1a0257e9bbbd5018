import { describe, expect, it } from 'vitest';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { isRebindError } from '../../server/errors.ts';
import { onCommit, savepoint, transact, type StoreChange } from '../../server/store/transaction.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isRebindError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

class Sword {
  damage = 3;
}

describe('stores', () => {
  it('hands out deeply frozen values and changes only through update', () => {
    const s = defineStore('s1', { a: { b: [1, 2] } });
    const v = s.get();
    expect(Object.isFrozen(v.a.b)).toBe(true);
    expect(() => {
      (v.a.b as number[]).push(3);
    }).toThrow();
    const next = s.update((d) => {
      d.a.b.push(3);
    });
    expect(next.a.b).toEqual([1, 2, 3]);
    expect(Object.isFrozen(s.get().a.b)).toBe(true);
    expect(v.a.b).toEqual([1, 2]);
  });

  it('refuses what is not plain data, naming the store and the path', () => {
    const players = defineStore('players', { byId: {} as Record<string, Record<string, unknown>> });
    players.update((d) => {
      d.byId.p1 = { hp: 10 };
    });
    const cases: Array<[string, (d: { byId: Record<string, Record<string, unknown>> }) => void, string]> = [
      ['class', (d) => void (d.byId.p1!.sword = new Sword()), 'players.byId.p1.sword: an instance of Sword is not plain data'],
      ['function', (d) => void (d.byId.p1!.f = () => 1), 'players.byId.p1.f: a function is not plain data'],
      ['symbol', (d) => void (d.byId.p1!.s = Symbol('x')), 'players.byId.p1.s: a symbol is not plain data'],
      ['NaN', (d) => void (d.byId.p1!.hp = NaN), 'players.byId.p1.hp: NaN is not plain data'],
      ['Infinity', (d) => void (d.byId.p1!.hp = Infinity), 'players.byId.p1.hp: Infinity is not plain data'],
      ['undefined in array', (d) => void (d.byId.p1!.list = [1, undefined]), 'players.byId.p1.list.1: undefined in an array is not plain data'],
      ['Date', (d) => void (d.byId.p2 = { at: new Date() }), 'players.byId.p2.at: an instance of Date is not plain data'],
      ['Map', (d) => void (d.byId.p2 = { m: new Map() } as never), 'players.byId.p2.m: an instance of Map is not plain data'],
    ];
    for (const [, recipe, message] of cases) {
      const err = errorOf(() => players.update(recipe));
      expect(err.code).toBe('NOT_PLAIN_DATA');
      expect(err.message).toBe(message);
    }
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const err = errorOf(() => players.update((d) => void (d.byId.p3 = cyclic)));
    expect(err.code).toBe('NOT_PLAIN_DATA');
    expect(err.message).toContain('players.byId.p3.self: a cycle');
    expect(players.get()).toEqual({ byId: { p1: { hp: 10 } } });
  });

  it('refuses a non-plain initial value', () => {
    expect(errorOf(() => defineStore('bad', { when: new Date() })).message).toBe('bad.when: an instance of Date is not plain data');
  });

  it('commits writes to several stores together, or none of them', () => {
    const a = defineStore('a', { n: 0 });
    const b = defineTable<{ v: number }>('b');
    const seen: StoreChange[][] = [];
    const off = onCommit((changes) => seen.push(changes));
    expect(() =>
      transact(() => {
        a.update((d) => void (d.n = 1));
        b.set('x', { v: 1 });
        expect(a.get().n).toBe(1); // a handler sees its own writes at once
        expect(b.get('x')).toEqual({ v: 1 });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(a.get().n).toBe(0);
    expect(b.get('x')).toBeUndefined();
    expect(seen).toHaveLength(0);

    transact(() => {
      a.update((d) => void (d.n = 2));
      b.set('x', { v: 2 });
    });
    expect(a.get().n).toBe(2);
    expect(b.get('x')).toEqual({ v: 2 });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((c) => c.patches)).toEqual([
      [{ op: 'replace', path: ['n'], value: 2 }],
      [{ op: 'add', path: ['x'], value: { v: 2 } }],
    ]);
    off();
  });

  it('undoes only the failing part at a savepoint', () => {
    const a = defineStore('sp', { n: 0, m: 0 });
    transact(() => {
      a.update((d) => void (d.n = 1));
      expect(() =>
        savepoint(() => {
          a.update((d) => void (d.m = 5));
          throw new Error('inner');
        }),
      ).toThrow('inner');
      expect(a.get()).toEqual({ n: 1, m: 0 });
    });
    expect(a.get()).toEqual({ n: 1, m: 0 });
  });
});

describe('tables', () => {
  it('keeps rows apart and emits patches a plain record understands', () => {
    const t = defineTable<{ x: number; tags: string[] }>('players-t', { rows: { a: { x: 1, tags: [] } } });
    const seen: StoreChange[][] = [];
    const off = onCommit((c) => seen.push(c));
    const before = t.get('a');
    t.update('a', (d) => void d.tags.push('fast'));
    t.set('b', { x: 2, tags: [] });
    t.delete('a');
    off();
    expect(before).toEqual({ x: 1, tags: [] });
    expect(t.toObject()).toEqual({ b: { x: 2, tags: [] } });
    expect(t.size).toBe(1);
    expect(seen.flatMap((c) => c[0]!.patches)).toEqual([
      { op: 'add', path: ['a', 'tags', 0], value: 'fast' },
      { op: 'add', path: ['b'], value: { x: 2, tags: [] } },
      { op: 'remove', path: ['a'] },
    ]);
    expect(Object.isFrozen(t.get('b'))).toBe(true);
  });

  it('shows a transaction its own inserts and deletes while iterating', () => {
    const t = defineTable<{ x: number }>('iter', { rows: { a: { x: 1 }, b: { x: 2 } } });
    transact(() => {
      t.delete('a');
      t.set('c', { x: 3 });
      expect([...t.ids()].sort()).toEqual(['b', 'c']);
      expect(t.size).toBe(2);
    });
    expect([...t.entries()].sort()).toEqual([
      ['b', { x: 2 }],
      ['c', { x: 3 }],
    ]);
  });

  it('walks every row once while the loop writes to the table, before and after its first write', () => {
    const t = defineTable<{ x: number }>('walk', { rows: { a: { x: 1 }, b: { x: 2 }, c: { x: 3 } } });
    // A walk begun before any write (the committed rows), then one begun after writes (the staged view).
    transact(() => {
      const seen: Array<[string, number]> = [];
      for (const [id, row] of t.entries()) {
        seen.push([id, row.x]);
        t.update(id, (d) => void (d.x *= 10));
        if (id === 'a') t.set('d', { x: 4 });
      }
      expect(seen).toEqual([['a', 1], ['b', 2], ['c', 3]]);
      expect([...t.values()].map((r) => r.x)).toEqual([10, 20, 30, 4]);
      t.delete('b');
      expect([...t.ids()]).toEqual(['a', 'c', 'd']);
      expect([...t.entries()]).toEqual([['a', { x: 10 }], ['c', { x: 30 }], ['d', { x: 4 }]]);
    });
    expect([...t.values()].map((r) => r.x)).toEqual([10, 30, 4]);
    expect([...t.ids()]).toEqual(['a', 'c', 'd']);
    expect(Object.isFrozen([...t.values()][0])).toBe(true);
  });

  it('decides what a walk sees at its first step, not when the iterator is made, as a generator does', () => {
    const t = defineTable<{ v: number }>('lazy-walk', { rows: { a: { v: 1 }, b: { v: 2 }, c: { v: 3 } } });
    transact(() => {
      const ids = t.ids();
      const values = t.values();
      const entries = t.entries();
      t.delete('b');
      t.set('d', { v: 4 });
      t.update('c', (r) => void (r.v = 30));
      expect([...ids]).toEqual(['a', 'c', 'd']);
      expect([...values].map((r) => r.v)).toEqual([1, 30, 4]);
      expect([...entries]).toEqual([['a', { v: 1 }], ['c', { v: 30 }], ['d', { v: 4 }]]);
    });
    // Made in one transaction, first stepped in the next, after a delete there.
    let kept: IterableIterator<string> | undefined;
    transact(() => void (kept = t.ids()));
    transact(() => {
      t.delete('a');
      expect([...kept!]).toEqual(['c', 'd']);
    });
  });

  it('refuses to update a missing row and non-plain rows', () => {
    const t = defineTable<{ x: number }>('strict');
    expect(errorOf(() => t.update('nope', (d) => void (d.x = 1))).code).toBe('UNKNOWN_ROW');
    expect(errorOf(() => t.set('p', { x: 1, s: new Sword() } as never)).message).toBe('strict.p.s: an instance of Sword is not plain data');
    expect(t.size).toBe(0);
  });
});
