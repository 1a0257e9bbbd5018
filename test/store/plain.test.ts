import { expect, it } from 'vitest';
import { isRebindError } from '../../server/errors.ts';
import { assertPlain } from '../../server/store/plain.ts';

// Plain data is what survives MessagePack and JSON unchanged: anything the
// codecs would drop or change is refused, so memory, the journal and the
// replicas hold the same value.

const refusal = (value: unknown): string => {
  try {
    assertPlain(value, 'players', ['p1']);
  } catch (err) {
    return isRebindError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return 'accepted';
};

it('refuses getters, setters, hidden properties and named properties on arrays, naming where', () => {
  const getter = { o: Object.defineProperty({}, 'hp', { get: () => 3, enumerable: true }) };
  const setter = { o: Object.defineProperty({}, 'hp', { set: () => undefined, enumerable: true }) };
  const hidden = { o: Object.defineProperty({ a: 1 }, 'secret', { value: 2, enumerable: false }) };
  const named = Object.assign([1, 2], { extra: 5 });
  expect(refusal(getter)).toBe('NOT_PLAIN_DATA: players.p1.o.hp: an accessor (getter or setter) is not plain data');
  expect(refusal(setter)).toBe('NOT_PLAIN_DATA: players.p1.o.hp: an accessor (getter or setter) is not plain data');
  expect(refusal(hidden)).toBe('NOT_PLAIN_DATA: players.p1.o.secret: a hidden (non-enumerable) property is not plain data');
  expect(refusal({ list: named })).toBe('NOT_PLAIN_DATA: players.p1.list: an array with named properties is not plain data');
});

it('accepts what the codecs carry: frozen objects, null prototypes, an own "__proto__" key, nested arrays', () => {
  const value = { a: Object.freeze({ b: [1, [2, { c: 'x' }]] }), n: Object.assign(Object.create(null), { k: true }), ...JSON.parse('{"__proto__": 1}') };
  expect(refusal(value)).toBe('accepted');
  expect(refusal([])).toBe('accepted');
});

it('refuses what an array carries besides its elements: a getter or hidden element, a symbol key, a subclass; a hole is undefined in an array', () => {
  const getterAt = [1, 2];
  Object.defineProperty(getterAt, 1, { get: () => Date.now(), enumerable: true });
  const hiddenAt = [1, 2, 5];
  Object.defineProperty(hiddenAt, 2, { value: 5, enumerable: false });
  const symbolKeyed = Object.assign([1], { [Symbol('s')]: 1 });
  class Bag extends Array {}
  expect(refusal({ list: getterAt })).toBe('NOT_PLAIN_DATA: players.p1.list.1: an accessor (getter or setter) is not plain data');
  expect(refusal({ list: hiddenAt })).toBe('NOT_PLAIN_DATA: players.p1.list.2: a hidden (non-enumerable) property is not plain data');
  expect(refusal({ list: symbolKeyed })).toBe('NOT_PLAIN_DATA: players.p1.list: an array with symbol keys is not plain data');
  expect(refusal({ list: Bag.from([1, 2]) })).toBe('NOT_PLAIN_DATA: players.p1.list: an instance of Bag is not plain data');
  // eslint-disable-next-line no-sparse-arrays
  expect(refusal({ list: [1, , 3] })).toBe('NOT_PLAIN_DATA: players.p1.list.1: undefined in an array is not plain data');
});

it('refuses a string with an unpaired surrogate, as a value or a key, naming where; accepts any well-formed one (attack 16e)', () => {
  // MessagePack writes UTF-8: such a string came back as U+FFFD after a restart, and reached MessagePack and JSON clients differently.
  expect(refusal('a\uD800b')).toBe('NOT_PLAIN_DATA: players.p1: a string with an unpaired surrogate (not well-formed UTF-16) is not plain data');
  expect(refusal({ name: 'x\uDC00' })).toBe('NOT_PLAIN_DATA: players.p1.name: a string with an unpaired surrogate (not well-formed UTF-16) is not plain data');
  expect(refusal({ ['k\uD800']: 1 })).toBe('NOT_PLAIN_DATA: players.p1: a string with an unpaired surrogate (not well-formed UTF-16) is not plain data');
  expect(refusal({ tags: ['ok', 'é', '🙂', '\uD83D\uDE42', ''] })).toBe('accepted');
});

it('every write path of a table and a store refuses a string with an unpaired surrogate, as a value, a key or a row id', async () => {
  const { Table } = await import('../../server/store/table.ts');
  const { Store } = await import('../../server/store/store.ts');
  const code = (write: () => unknown): string => {
    try {
      write();
    } catch (err) {
      return isRebindError(err) ? err.code : String(err);
    }
    return 'accepted';
  };
  const players = new Table<Record<string, unknown>>('players');
  players.set('p1', { name: 'x', bag: {} });
  const world = new Store<Record<string, unknown>>('world', { motd: 'hi' });
  const bad = 'a\uD800b';
  const writes: Record<string, () => unknown> = {
    'table.assign, a value': () => players.assign('p1', { name: bad }),
    'table.assign, a key': () => players.assign('p1', { [bad]: 1 }),
    'table.update, a value': () => players.update('p1', (d) => void (d.name = bad)),
    'table.update, a nested key': () => players.update('p1', (d) => void ((d.bag as Record<string, number>)[bad] = 1)),
    'table.set, a value': () => players.set('p2', { name: bad }),
    'table.set, a row id': () => players.set(bad, { name: 'x' }),
    'store.update, a value': () => world.update((d) => void (d.motd = bad)),
    'store.update, a new key': () => world.update((d) => void (d[bad] = 1)),
  };
  for (const [what, write] of Object.entries(writes)) expect(`${what}: ${code(write)}`).toBe(`${what}: NOT_PLAIN_DATA`);
  expect(players.get('p1')).toEqual({ name: 'x', bag: {} });
  expect([...players.ids()]).toEqual(['p1']);
  expect(world.get()).toEqual({ motd: 'hi' });
  expect(code(() => players.assign('p1', { name: '🙂é' }))).toBe('accepted');
});
