import fc from 'fast-check';
import { expect, it } from 'vitest';
import { isRebindError } from '../../server/errors.ts';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { onCommit, transact, type StoreChange } from '../../server/store/transaction.ts';

allowStandaloneStores();

// `table.assign(id, fields)` is `table.update(id, (d) => Object.assign(d, fields))`
// made cheap: the same row, the same committed patches, the same refusals.

type Row = Record<string, unknown>;
const keys = fc.constantFrom('x', 'y', 'name', 'score', 'constructor', 'extra');
const primitive = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ noDefaultInfinity: true }), fc.constantFrom(0, -0, 1.5, null, true, false, 'a', ''), fc.string({ maxLength: 3 }));
const value = fc.oneof({ weight: 5, arbitrary: primitive }, { weight: 1, arbitrary: fc.constantFrom(undefined, Infinity) }, { weight: 1, arbitrary: fc.array(fc.integer(), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.record({ a: fc.integer() }) });
// Rows as the journal restores them (own "__proto__" keys among them), flat or holding objects.
const row = fc.dictionary(fc.oneof(keys, fc.constant('__proto__')), fc.oneof({ weight: 4, arbitrary: primitive }, { weight: 1, arbitrary: fc.record({ b: fc.integer() }) }), { maxKeys: 5 }).map((r) => JSON.parse(JSON.stringify(r)) as Row);
const fields = fc.dictionary(keys, value, { maxKeys: 4 });

const zeroes = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null, (_k, x) => (Object.is(x, -0) ? 0 : x)));

let n = 0;
function outcome(base: Row, write: (table: ReturnType<typeof defineTable<Row>>) => unknown): unknown {
  const table = defineTable<Row>(`assign-${n++}`);
  table.set('r', base);
  const commits: StoreChange[][] = [];
  const stop = onCommit((c) => commits.push(c));
  try {
    const returned = transact(() => write(table));
    const stored = table.get('r');
    // Patches of different fields commute: compared in the order of their paths.
    const patches = commits.flatMap((c) => c.flatMap((s) => s.patches)).map(zeroes).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return { returned: zeroes(returned), stored: zeroes(stored), same: returned === stored, frozen: Object.isFrozen(stored), patches };
  } catch (err) {
    return { error: isRebindError(err) ? err.code : (err as Error).message };
  } finally {
    stop();
  }
}

it('gives the row, patches and refusals of update with Object.assign, for random rows and fields (fast-check)', () => {
  fc.assert(
    fc.property(row, fields, (base, set) => {
      const viaAssign = outcome(base, (t) => t.assign('r', set));
      const viaUpdate = outcome(base, (t) => t.update('r', (d) => void Object.assign(d, set)));
      expect(viaAssign).toEqual(viaUpdate);
    }),
    { numRuns: 2000 },
  );
});

it('returns the stored row itself and commits nothing when no field changes', () => {
  const table = defineTable<{ x: number; y: number }>('assign-same');
  const before = table.set('a', { x: 1, y: 2 });
  const seen: StoreChange[][] = [];
  const stop = onCommit((c) => seen.push(c));
  expect(table.assign('a', { x: 1 })).toBe(before);
  stop();
  expect(seen).toEqual([]);
});

it('keeps the stored row, and returns it, when 0 is written over -0 (no patch, as immer decides)', () => {
  const table = defineTable<{ z: number }>('assign-zero');
  const stored = table.set('a', { z: -0 });
  for (const write of [() => table.assign('a', { z: 0 }), () => table.update('a', (d) => void (d.z = 0))]) {
    expect(write()).toBe(stored);
    expect(Object.is(table.get('a')!.z, -0)).toBe(true);
  }
});

it('refuses a missing row, a bad id and fields that are not an object, with their codes', () => {
  const table = defineTable<{ x: number }>('assign-bad');
  table.set('a', { x: 1 });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return isRebindError(err) ? `${err.code}: ${err.message}` : String(err);
    }
    return 'accepted';
  };
  expect(code(() => table.assign('nobody', { x: 2 }))).toBe('UNKNOWN_ROW: assign-bad.nobody: no such row to update');
  expect(code(() => table.assign(5 as unknown as string, { x: 2 }))).toMatch(/^BAD_ROW_ID/);
  expect(code(() => table.assign('a', null as unknown as { x: number }))).toBe('NOT_PLAIN_DATA: assign-bad.a: assign takes an object of fields, got null');
  expect(code(() => table.assign('a', [1] as unknown as { x: number }))).toBe('NOT_PLAIN_DATA: assign-bad.a: assign takes an object of fields, got an array');
  expect(code(() => table.assign('a', { x: new Date() as unknown as number }))).toMatch(/^NOT_PLAIN_DATA/);
  expect(table.get('a')).toEqual({ x: 1 });
});

it('refuses a symbol-keyed property that a recipe writes, at any depth, in a table or a store, and stores nothing', () => {
  const table = defineTable<Row>('symbol-rows');
  table.set('flat', { x: 1 });
  table.set('deep', { o: { a: 1 } });
  const store = defineStore<Row>('symbol-store', { o: { a: 1 } });
  const tag = Symbol('tag');
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return isRebindError(err) ? err.code : String(err);
    }
    return 'accepted';
  };
  expect(code(() => table.update('deep', (d) => void ((d as Record<symbol, unknown>)[tag] = 1)))).toBe('NOT_PLAIN_DATA');
  expect(code(() => table.update('deep', (d) => void ((d.o as Record<symbol, unknown>)[tag] = 1)))).toBe('NOT_PLAIN_DATA');
  expect(code(() => store.update((d) => void ((d.o as Record<symbol, unknown>)[tag] = 1)))).toBe('NOT_PLAIN_DATA');
  expect(table.get('deep')).toEqual({ o: { a: 1 } });
  expect(Object.getOwnPropertySymbols(table.get('deep')!.o as object)).toEqual([]);
  expect(Object.getOwnPropertySymbols(store.get().o as object)).toEqual([]);
});

it('sets a field named "__proto__" as a field, where a recipe could not', () => {
  const table = defineTable<Row>('assign-proto');
  table.set('a', { x: 1 });
  const next = table.assign('a', JSON.parse('{"__proto__": 7}') as Row);
  expect(Object.getPrototypeOf(next)).toBe(Object.prototype);
  expect(Object.getOwnPropertyDescriptor(next, '__proto__')).toEqual({ value: 7, writable: false, enumerable: true, configurable: false });
  expect(table.get('a')).toBe(next);
});
