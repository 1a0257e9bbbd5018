import { describe, expect, it } from 'vitest';
import { RoomReplicas, readFrame } from '../../client/room-replicas.ts';
import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit } from '../../server/store/transaction.ts';

// A per-member view must not leak the ids of rows a member cannot see: the
// room's key dictionary names a hidden row only to members whose view the
// row entered (the others get a null in its place). Each member's frames are
// read by the real client into a replica, which must still equal its view.

type Pos = { x: number; y: number; tag?: string };

class Spy implements Member {
  frames: Buffer[] = [];
  readonly replicas = new RoomReplicas();
  constructor(readonly player: string) {}
  deliver(message: EncodedOnce): boolean {
    const bytes = message.for('msgpack') as Buffer;
    this.frames.push(bytes);
    const [event, , payload] = readFrame(bytes) as [string, number, unknown];
    this.replicas.apply(event as '$state' | '$delta', payload);
    return true;
  }
  queued(): number {
    return 0;
  }
  heard(text: string): boolean {
    return this.frames.some((f) => f.includes(text));
  }
  sees(): Record<string, Pos> {
    return (this.replicas.rooms.get('r')?.players ?? {}) as Record<string, Pos>;
  }
}

describe('hidden row ids (per-member views)', () => {
  it.each([{ near: { radius: 100 } }, { filter: 'near.by' }] as const)('are never sent to a member whose view the row never entered (%o)', (spec) => {
    const registry = new StoreRegistry();
    const players = new Table<Pos>('players');
    registry.add(players, 'test');
    const byFilter = (row: unknown, viewer: string) => {
      const me = players.get(viewer);
      const r = row as Pos;
      return me !== undefined && (r.x - me.x) ** 2 + (r.y - me.y) ** 2 <= 100 ** 2;
    };
    const rooms = new Rooms(registry, { resolve: (name) => (name === 'near.by' ? byFilter : undefined) });
    const off = onCommit((changes) => rooms.onCommit(changes));
    try {
      rooms.setView('r', { players: spec });
      players.set('p-spy', { x: 0, y: 0 });
      players.set('p-friend', { x: 50, y: 0 });
      const spy = new Spy('p-spy');
      const friend = new Spy('p-friend');
      rooms.join('r', spy);
      rooms.join('r', friend);
      rooms.flush();
      // Far away, a secret agent joins, moves, and meets the friend (who then sees it, by name).
      players.set('p-secret-agent', { x: 5000, y: 5000, tag: 'far' });
      rooms.flush();
      players.update('p-secret-agent', (d) => void (d.x = 4000));
      rooms.flush();
      players.set('p-late', { x: 10, y: 10 });
      rooms.flush();
      expect(spy.heard('p-secret-agent')).toBe(false);
      expect(friend.heard('p-secret-agent')).toBe(false);
      players.update('p-secret-agent', (d) => Object.assign(d, { x: 120, y: 0 }));
      rooms.flush();
      rooms.flush();
      expect(friend.heard('p-secret-agent')).toBe(true);
      expect(friend.sees()['p-secret-agent']).toEqual({ x: 120, y: 0, tag: 'far' });
      expect(spy.heard('p-secret-agent')).toBe(false);
      expect(Object.keys(spy.sees()).sort()).toEqual(['p-friend', 'p-late', 'p-spy']);
      // It walks to the spy too: now the spy is told, and its replica follows later moves.
      players.update('p-secret-agent', (d) => Object.assign(d, { x: 30, y: 0 }));
      rooms.flush();
      players.update('p-secret-agent', (d) => void (d.y = 5));
      rooms.flush();
      expect(spy.sees()['p-secret-agent']).toEqual({ x: 30, y: 5, tag: 'far' });
      // A newcomer's $state does not name it either, and its replica is its view.
      players.set('p-new', { x: -3000, y: 0 });
      const newcomer = new Spy('p-new');
      rooms.join('r', newcomer);
      rooms.flush();
      rooms.flush();
      expect(newcomer.heard('p-secret-agent')).toBe(false);
      expect(newcomer.heard('p-spy')).toBe(false);
      expect(Object.keys(newcomer.sees())).toEqual(['p-new']);
    } finally {
      off();
    }
  });
});
