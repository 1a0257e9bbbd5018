import { afterEach, expect, it } from 'vitest';
import { Rooms } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';
import { ReplicaReader } from './replica-reader.ts';

// A filter's pass over a member's rows stops letting rows in when the
// tick's piece budget runs out, but it must still take out every row the
// filter now hides. It used to return at the first row that did not fit: the
// rows after it in table order that no longer passed stayed in the replica,
// and kept getting their changes, for as many ticks as the entries took.

type Row = { x: number; y: number; hp: number };
let off: (() => void) | undefined;
afterEach(() => off?.());

it.each(['msgpack', 'json'] as const)('a filter pass short of budget still removes the rows the filter hides, in the same tick (%s)', (encoding) => {
  const registry = new StoreRegistry();
  const units = new Table<Row>('units');
  registry.add(units, 'test');
  const even = (row: Row) => row.hp % 2 === 0;
  const rooms = new Rooms(registry, { resolve: (name) => (name === 'v.even' ? even : undefined), pieceBytes: 60 });
  off = onCommit((changes) => rooms.onCommit(changes));
  rooms.setView('r', { units: { near: { radius: 50 } } });
  transact(() => {
    // First in table order: rows that pass the filter, far away (the radius hides them), more than a piece's budget.
    for (let i = 0; i < 20; i++) units.set(`far${i}`, { x: 1000, y: 1000, hp: 2 });
    units.set('viewer', { x: 0, y: 0, hp: 2 });
    // Within the radius, and hidden by the filter.
    for (let i = 0; i < 5; i++) units.set(`near${i}`, { x: i, y: 0, hp: 1 });
  });
  const member = new ReplicaReader('viewer', encoding);
  rooms.join('r', member);
  for (let i = 0; i < 20; i++) rooms.flush();
  const held = () => Object.keys((member.replicas.rooms.get('r') as { units: Record<string, Row> }).units).sort();
  expect(held()).toEqual(['near0', 'near1', 'near2', 'near3', 'near4', 'viewer']);

  // Same shape: the member keeps its rows, and the next tick sorts them again through the filter.
  rooms.setView('r', { units: { filter: 'v.even' } });
  transact(() => units.assign('near4', { hp: 7 }));
  rooms.flush();
  expect(held().filter((id) => id.startsWith('near'))).toEqual([]);
  // The rows the filter lets through come over the next ticks, a piece at a time.
  for (let i = 0; i < 30; i++) rooms.flush();
  expect(held()).toEqual([...Array.from({ length: 20 }, (_, i) => `far${i}`), 'viewer'].sort());
});
