import { expect, it } from 'vitest';
import { readFrame, RoomReplicas } from '../../client/room-replicas.ts';
import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit } from '../../server/store/transaction.ts';

// A room's key dictionary only grows while players come and go (each new
// row id is a key), and every joiner is sent all of it; past its rows' needs
// it starts again, and members keep an exact replica through the restart.

it('keeps a room\'s key dictionary bounded through 30,000 players coming and going', () => {
  const registry = new StoreRegistry();
  const players = new Table<{ x: number }>('players');
  registry.add(players, 'test');
  const rooms = new Rooms(registry);
  const off = onCommit((changes) => rooms.onCommit(changes));
  try {
    rooms.setView('r', { players: true });
    const replicas = new RoomReplicas();
    let stateBytes = 0;
    const member: Member = {
      player: 'watcher',
      deliver(message: EncodedOnce) {
        const bytes = message.for('msgpack');
        const [event, , payload] = readFrame(bytes) as [string, number, unknown];
        if (event === '$state') stateBytes = bytes.length;
        replicas.apply(event as '$state', payload);
        return true;
      },
      queued: () => 0,
    };
    rooms.join('r', member);
    for (let i = 0; i < 30_000; i++) {
      players.set(`p${i}`, { x: i / 10 });
      if (i >= 10) players.delete(`p${i - 10}`);
      rooms.flush();
    }
    const keys = (rooms as unknown as { rooms: Map<string, { dict: { keys: string[] } }> }).rooms.get('r')!.dict.keys.length;
    expect(keys).toBeLessThan(8192 + 100);
    expect(replicas.rooms.get('r')!.players).toEqual(players.current());
    // The last fresh $state (the restart) carried a short dictionary, not 30,000 keys.
    expect(stateBytes).toBeLessThan(100_000);
  } finally {
    off();
  }
});
