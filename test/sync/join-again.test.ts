import { expect, it } from 'vitest';
import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';

// ctx.join of a room the player is already in, on the same connection, sends
// nothing: its replica is current. (It sent a fresh $state and every row
// again: a 20-byte request bought the whole room.) A new connection of the
// same player is seated again from scratch, as before.

class Counting implements Member {
  messages = 0;
  bytes = 0;
  constructor(readonly player: string) {}
  deliver(message: EncodedOnce): boolean {
    this.messages++;
    this.bytes += message.for('msgpack').length;
    return true;
  }
  queued(): number {
    return 0;
  }
}

it('joining a room again on the same connection sends nothing; on a new connection, the room again', () => {
  const registry = new StoreRegistry();
  const tiles = new Table<{ art: string }>('tiles');
  registry.add(tiles, 'test');
  for (let i = 0; i < 200; i++) tiles.set(`t${i}`, { art: 'x'.repeat(100) });
  const rooms = new Rooms(registry);
  rooms.setView('big', { tiles: true });
  const first = new Counting('p1');
  rooms.join('big', first);
  for (let i = 0; i < 5; i++) rooms.flush();
  const sent = { messages: first.messages, bytes: first.bytes };
  expect(sent.bytes).toBeGreaterThan(200 * 100);
  for (let i = 0; i < 10; i++) rooms.join('big', first);
  for (let i = 0; i < 5; i++) rooms.flush();
  expect({ messages: first.messages, bytes: first.bytes }).toEqual(sent);
  expect(rooms.roomsOf('p1')).toEqual(['big']);

  const again = new Counting('p1');
  rooms.join('big', again);
  for (let i = 0; i < 5; i++) rooms.flush();
  expect(again.bytes).toBeGreaterThan(200 * 100);
});
