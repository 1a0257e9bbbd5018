import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member, type RoomSync } from '../../server/net/rooms.ts';
import { PatchRooms } from '../../server/net/rooms-patches.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';

// The sync alone, in this process, with no sockets: N players in one room,
// every one moving x and y at every tick, members that only count bytes.
// What the server spends on sync per tick, and the bytes each member gets,
// whatever the machine's load does to the clients of the end-to-end run.

/** The arena's player row, as the workload of issue 14 names it. */
type Player = { name: string; x: number; y: number; dx: number; dy: number; score: number };

class Counter implements Member {
  bytes = 0;
  constructor(readonly player: string) {}
  deliver(message: EncodedOnce): boolean {
    this.bytes += message.for('msgpack').length;
    return true;
  }
  queued(): number {
    return 0;
  }
}

export function encodeCost(players: number, sync: 'delta' | 'patches', radius: number, ticks = 60): { msPerTick: number; bytesPerMemberPerTick: number; bytesPerMoved: number } {
  const registry = new StoreRegistry();
  const table = new Table<Player>('players');
  registry.add(table, 'bench');
  const rooms: RoomSync = sync === 'patches' ? new PatchRooms(registry) : new Rooms(registry);
  const off = onCommit((changes) => rooms.onCommit(changes));
  rooms.setView('arena', { players: radius > 0 ? { near: { radius } } : true });
  const members: Counter[] = [];
  for (let i = 0; i < players; i++) {
    const id = `p-arena${i}`;
    table.set(id, { name: `arena${i}`, x: Math.round(Math.random() * 8000) / 10, y: Math.round(Math.random() * 6000) / 10, dx: 1, dy: 1, score: 0 });
    const member = new Counter(id);
    members.push(member);
    rooms.join('arena', member);
  }
  for (let i = 0; i < 5; i++) rooms.flush();
  for (const m of members) m.bytes = 0;
  let ms = 0;
  for (let t = 0; t < ticks; t++) {
    // The arena's tick (as logic/arena.ts writes it): every player steps diagonally, 10 px a tick at most, x and y rounded to 0.1.
    // Timed with the writes: the commit listener's share of sync (coalescing, or keeping patches) counts too.
    const t0 = performance.now();
    transact(() => {
      for (const [id, p] of table.entries()) {
        const x = Math.round(Math.min(800, Math.max(0, p.x + (Math.random() * 14 - 7))) * 10) / 10;
        const y = Math.round(Math.min(600, Math.max(0, p.y + (Math.random() * 14 - 7))) * 10) / 10;
        table.assign(id, { x, y });
      }
    });
    rooms.flush();
    ms += performance.now() - t0;
  }
  off();
  const total = members.reduce((sum, m) => sum + m.bytes, 0);
  const perMember = total / players / ticks;
  return { msPerTick: ms / ticks, bytesPerMemberPerTick: perMember, bytesPerMoved: radius > 0 ? 0 : perMember / players };
}
