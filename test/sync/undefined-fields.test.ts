import { expect, it } from 'vitest';
import { ReplicaReader, TABLE_VIEWS, withSyncedTable } from './replica-reader.ts';

// A field set to `undefined` is stored as such (an own key; the journal's
// MessagePack keeps it). Every member must read it as undefined, whether the
// row came in its `$state` or in a `$delta`, in MessagePack or JSON. (The
// compact delta wrote it as null, so a member's replica depended on when it
// joined and on its encoding.)

type Row = { x: number; y: number; tag?: string; bag: Record<string, unknown> };

for (const [viewName, spec] of TABLE_VIEWS) {
  it(`${viewName}: a field set to undefined reads as undefined for every member, however its row reached it`, () => {
    withSyncedTable<Row>((rows, rooms) => {
      rows.set('a', { x: 1, y: 0, tag: 'red', bag: { k: 1 } });
      rooms.setView('room', { rows: spec });
      const early = new ReplicaReader('a');
      const earlyJson = new ReplicaReader('b', 'json');
      rows.set('b', { x: 2, y: 0, bag: {} });
      rooms.join('room', early);
      rooms.join('room', earlyJson);
      for (let i = 0; i < 3; i++) rooms.flush();
      // As a field of the row, as a new field, and inside a nested object: each through a $delta.
      rows.assign('a', { tag: undefined });
      rows.update('b', (d) => void ((d as Row).tag = undefined));
      rows.update('a', (d) => void (d.bag.k = undefined));
      rooms.flush();
      // A member that joins now gets the same rows in its $state.
      const late = new ReplicaReader('a');
      rooms.join('room', late);
      for (let i = 0; i < 3; i++) rooms.flush();
      const server = { a: rows.get('a'), b: rows.get('b') };
      expect(Object.hasOwn(server.a!, 'tag') && server.a!.tag === undefined).toBe(true);
      // Every member reads undefined: never null (the key may be there holding undefined, or be missing; JSON.stringify drops both).
      for (const [who, reader] of [['MessagePack, joined before', early], ['MessagePack, joined after', late], ['JSON, joined before', earlyJson]] as const) {
        const seen = reader.replicas.rooms.get('room')!.rows as Record<string, Row>;
        expect({ who, tags: [seen.a!.tag, seen.b!.tag, seen.a!.bag.k] }).toStrictEqual({ who, tags: [undefined, undefined, undefined] });
        expect({ who, rows: JSON.parse(JSON.stringify(seen)) }).toStrictEqual({ who, rows: { a: { x: 1, y: 0, bag: {} }, b: { x: 2, y: 0, bag: {} } } });
      }
    });
  });
}
