import { readFrame, RoomReplicas } from '../../client/room-replicas.ts';
import type { EncodedOnce, Encoding } from '../../server/net/codec.ts';
import type { RoomView } from '../../server/api.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit } from '../../server/store/transaction.ts';

/** A room member that reads the real bytes it is sent (msgpack or JSON) with the client library's own decoder. */
export class ReplicaReader implements Member {
  readonly replicas = new RoomReplicas();
  constructor(
    readonly player: string,
    private readonly encoding: Encoding = 'msgpack',
  ) {}
  deliver(message: EncodedOnce): boolean {
    const m = readFrame(message.for(this.encoding)) as [string, number, unknown];
    this.replicas.apply(m[0] as '$state' | '$delta', m[2]);
    return true;
  }
  queued(): number {
    return 0;
  }
}

/** The three ways a member can see a table: a filter (`views.all`, which shows every row), a radius, and whole. */
export const TABLE_VIEWS: Array<[string, RoomView[string]]> = [
  ['a filter', { filter: 'views.all' }],
  ['a radius', { near: { radius: 100 } }],
  ['everyone sees everyone', true],
];

/** Runs `test` with a table `rows` in a registry, and rooms that sync its commits (listening only while it runs). */
export function withSyncedTable<Row>(test: (rows: Table<Row>, rooms: Rooms) => void): void {
  const registry = new StoreRegistry();
  const rows = new Table<Row>('rows');
  registry.add(rows, 'test');
  const rooms = new Rooms(registry, { resolve: (name) => (name === 'views.all' ? () => true : undefined) });
  const off = onCommit((changes) => rooms.onCommit(changes));
  try {
    test(rows, rooms);
  } finally {
    off();
  }
}
