import { expect, it } from 'vitest';
import { transact } from '../../server/store/transaction.ts';
import { ReplicaReader, TABLE_VIEWS, withSyncedTable } from './replica-reader.ts';

// A tick that sets a field of a row and also changes something below another
// (or the same) field of it: members who see the room through a filter or a
// radius got the field set and lost the rest (their rows are put together
// from pieces of the tick's field sets). Each case, each kind of view.

type Row = { x: number; y: number; hp: number; log: number[]; o: Record<string, unknown> };

const CASES: Array<[string, (d: Row) => void]> = [
  ['a field set and items pushed to a list', (d) => {
    d.hp = 3;
    d.log.push(2, 3);
  }],
  ['an object set, then keys set inside it', (d) => {
    d.o = {};
    d.o.a = 1;
    d.o.b = 2;
  }],
  ['a key set inside an object, then the object replaced', (d) => {
    d.o.a = 5;
    d.o = { x: 1 };
    d.hp = 0;
  }],
  ['the viewer moves and its own list grows', (d) => {
    d.x = 5;
    d.log.push(9);
  }],
];

for (const [viewName, spec] of TABLE_VIEWS) {
  it.each(CASES)(`${viewName}: %s arrives whole`, (_, change) => {
    withSyncedTable<Row>((rows, rooms) => {
      rooms.setView('r', { rows: spec });
      rows.set('me', { x: 0, y: 0, hp: 1, log: [1], o: { a: 0 } });
      rows.set('other', { x: 10, y: 10, hp: 1, log: [1], o: { a: 0 } });
      const reader = new ReplicaReader('me');
      rooms.join('r', reader);
      rooms.flush();
      rooms.flush();
      for (const id of ['other', 'me']) transact(() => rows.update(id, change));
      rooms.flush();
      expect(reader.replicas.rooms.get('r')!.rows).toEqual(rows.current());
    });
  });
}
