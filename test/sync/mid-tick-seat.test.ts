import { afterEach, expect, it } from 'vitest';
import { readFrame, RoomReplicas } from '../../client/room-replicas.ts';
import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';

// A member seated in the middle of a tick (a join, a resume, a view that changes shape) has a
// snapshot with the tick's earlier commits in it, and is sent only the later ones. Found by an
// outside attack: a row's field set whole and then pushed to before the seat, and another field
// of the row written after it, sent the joiner the field's value from before the push, and its
// replica stayed wrong until the field was set whole again. Needs two members, so that each gets
// a share of its own (sync-frame.ts).

type Row = { a: number; arr: unknown[]; obj: Record<string, number>; b: number };

class Replica implements Member {
  readonly replicas = new RoomReplicas();
  constructor(
    readonly player: string,
    private readonly encoding: 'msgpack' | 'json',
  ) {}
  deliver(message: EncodedOnce): boolean {
    const data = message.for(this.encoding);
    const [event, , payload] = (typeof data === 'string' ? JSON.parse(data) : readFrame(data as Buffer)) as [string, number, unknown];
    this.replicas.apply(event as '$delta', payload);
    return true;
  }
  queued(): number {
    return 0;
  }
  table(): unknown {
    return this.replicas.rooms.get('A')?.t1;
  }
}

const offs: Array<() => void> = [];
afterEach(() => offs.splice(0).forEach((off) => off()));

function room(): { table: Table<Row>; rooms: Rooms } {
  const registry = new StoreRegistry();
  const table = new Table<Row>('t1');
  registry.add(table, 'test');
  table.set('r', { a: 1, arr: [], obj: { a: 1 }, b: 0 });
  table.set('s', { a: 1, arr: [], obj: { a: 1 }, b: 0 });
  const rooms = new Rooms(registry);
  offs.push(onCommit((changes) => rooms.onCommit(changes)));
  rooms.setView('A', { t1: true });
  return { table, rooms };
}

const cases: Array<[string, (table: Table<Row>) => void]> = [
  [
    'an array set whole, then pushed to',
    (table) => {
      table.assign('r', { arr: [1, 2] });
      table.update('r', (d) => void d.arr.push('pushed'));
    },
  ],
  [
    'an object set whole, then a key of it set',
    (table) => {
      table.assign('r', { obj: { a: 1 } });
      table.update('r', (d) => void (d.obj.a = 5));
    },
  ],
];

for (const [what, before] of cases) {
  for (const encoding of ['msgpack', 'json'] as const) {
    it(`a member seated mid-tick keeps what its snapshot had: ${what}, another field written after the seat (${encoding})`, () => {
      const { table, rooms } = room();
      const observer = new Replica('o', encoding);
      rooms.join('A', observer);
      for (let i = 0; i < 3; i++) rooms.flush();
      transact(() => before(table));
      const joiner = new Replica('f', encoding);
      rooms.join('A', joiner);
      transact(() => {
        table.assign('r', { b: 2 });
        table.assign('s', { b: 3 });
      });
      rooms.flush();
      expect(observer.table()).toEqual(table.toObject());
      expect(joiner.table()).toEqual(table.toObject());
      // And it stays right: the next push lands where the server's did.
      transact(() => table.update('r', (d) => void d.arr.push('later')));
      rooms.flush();
      expect(joiner.table()).toEqual(table.toObject());
    });
  }
}
