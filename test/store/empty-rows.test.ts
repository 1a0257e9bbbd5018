import { nothing } from 'immer';
import { expect, it } from 'vitest';
import { isRebindError } from '../../server/errors.ts';
import { Store } from '../../server/store/store.ts';
import { Table } from '../../server/store/table.ts';
import { transact } from '../../server/store/transaction.ts';

// A row set to undefined was accepted: reads in the same transaction fell
// back to the committed row (a staged undefined reads as "not written"), so an
// assign after it committed the old row plus the field, while the journal
// said "row gone, then a field of it" and could not be replayed: the server
// did not start again after a crash (attack 17b). A store's value set to
// undefined reached JSON members as null. Both are refused when written.

const code = (write: () => unknown): string => {
  try {
    write();
  } catch (err) {
    return isRebindError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'accepted';
};

it('refuses a row that is undefined or null, however it is written, and keeps the table as it was', () => {
  const rows = new Table<{ x: number; tag?: string } | undefined | null>('rows');
  rows.set('a', { x: 1, tag: 'red' });
  const writes: Record<string, () => unknown> = {
    'set undefined': () => rows.set('a', undefined),
    'set null': () => rows.set('a', null),
    'set undefined, then assign in the same transaction': () =>
      transact(() => {
        rows.set('a', undefined);
        rows.assign('a', { tag: 'x' });
      }),
    'an update recipe returning nothing': () => rows.update('a', () => nothing as never),
    'a new row that is undefined': () => rows.set('b', undefined),
  };
  for (const [what, write] of Object.entries(writes)) expect(`${what}: ${code(write)}`).toMatch(new RegExp(`^${what}: NOT_PLAIN_DATA: rows\\.[ab]: a row cannot be (undefined|null)`));
  expect(rows.get('a')).toEqual({ x: 1, tag: 'red' });
  expect([...rows.ids()]).toEqual(['a']);
  expect(rows.size).toBe(1);
  expect(code(() => rows.delete('a'))).toBe('accepted');
  expect(rows.size).toBe(0);
});

it("refuses a store's value set to undefined by a recipe returning nothing; null is a value", () => {
  const config = new Store<{ a: number } | null>('config', { a: 1 });
  expect(code(() => config.update(() => nothing as never))).toMatch(/^NOT_PLAIN_DATA: config: a store's value cannot be undefined/);
  expect(config.get()).toEqual({ a: 1 });
  expect(code(() => config.update(() => null))).toBe('accepted');
  expect(config.get()).toBeNull();
});
