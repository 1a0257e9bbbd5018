import { describe, expect, it } from 'vitest';
import { Rooms } from '../../server/net/rooms.ts';
import { KnownRows } from '../../server/net/known-rows.ts';
import { NearIndex } from '../../server/net/sync-near.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';
import { ReplicaReader } from './replica-reader.ts';

// A radius view keeps each table row's slot across ticks and each member's
// rows as a bitset by slot beside its Set of ids (server/net/sync-near.ts).
// These tests look for the two disagreeing: rows deleted and added again,
// the slot index starting again, a view switched to a filter and back.

type Pos = { x: number; y: number };
const RADIUS = 100;

function world() {
  const registry = new StoreRegistry();
  const players = new Table<Pos>('players');
  registry.add(players, 'test');
  // Filter views for the switch: the same rule as the radius, and "the left half".
  const filters: Record<string, unknown> = { 'v.near': (row: Pos, viewer: string) => within(players, row, viewer), 'v.left': (row: Pos) => row.x < 400 };
  const rooms = new Rooms(registry, { resolve: (name) => filters[name], keysBeforeReset: 0 });
  const off = onCommit((changes) => rooms.onCommit(changes));
  return { players, rooms, off };
}

function within(players: Table<Pos>, row: Pos, viewer: string): boolean {
  const me = players.get(viewer);
  return me !== undefined && (row.x - me.x) ** 2 + (row.y - me.y) ** 2 <= RADIUS ** 2;
}

function expected(players: Table<Pos>, viewer: string, rule: 'near' | 'left'): Record<string, Pos> {
  const out: Record<string, Pos> = {};
  for (const [id, row] of players.entries()) if (rule === 'left' ? row.x < 400 : within(players, row, viewer)) out[id] = row;
  return out;
}

function slotIndex(rooms: Rooms): NearIndex | undefined {
  // White box: which slot index the room holds, to prove the test made it start again.
  return (rooms as unknown as { rooms: Map<string, { near: Map<string, NearIndex> }> }).rooms.get('r')?.near.get('players');
}

describe('radius views keep their row slots right', () => {
  it('through deletes, rows added again under old ids, the slot index starting again and a switch to a filter and back', () => {
    const { players, rooms, off } = world();
    try {
      rooms.setView('r', { players: { near: { radius: RADIUS } } });
      transact(() => {
        for (let i = 0; i < 60; i++) players.set(`p${i}`, { x: (i % 10) * 40, y: Math.floor(i / 10) * 40 });
      });
      const members = ['p0', 'p15', 'p33'].map((id) => new ReplicaReader(id));
      for (const m of members) rooms.join('r', m);
      const check = (rule: 'near' | 'left', when: string) => {
        rooms.flush();
        rooms.flush();
        for (const m of members) expect(m.replicas.rooms.get('r')?.players ?? {}, `${m.player} ${when}`).toEqual(expected(players, m.player, rule));
      };
      check('near', 'after joining');
      const first = slotIndex(rooms);
      expect(first).toBeDefined();

      // Most rows go: the index holds three times the slots its rows need, and starts again at the next tick.
      transact(() => {
        for (let i = 0; i < 60; i++) if (![0, 1, 10, 15, 16, 33, 34].includes(i)) players.delete(`p${i}`);
      });
      check('near', 'after the deletes');
      expect(slotIndex(rooms)).not.toBe(first);

      // Old ids come back, some right beside the members, some far away; the members move.
      transact(() => {
        for (const i of [2, 11, 20, 44, 45]) players.set(`p${i}`, { x: 10 + i, y: 10 + i });
        players.assign('p33', { x: 30, y: 30 });
        players.assign('p16', { x: 700, y: 500 });
      });
      check('near', 'after rows came back');

      // A filter, then the radius again: the members keep their rows across each switch.
      rooms.setView('r', { players: { filter: 'v.left' } });
      check('left', 'seen through a filter');
      transact(() => players.assign('p16', { x: 20, y: 20 }));
      rooms.setView('r', { players: { near: { radius: RADIUS } } });
      check('near', 'back to the radius');
      transact(() => {
        players.delete('p1');
        players.set('p1', { x: 5, y: 5 });
        players.assign('p15', { x: 350, y: 350 });
      });
      check('near', 'after a row was replaced whole and a member moved away');
    } finally {
      off();
    }
  });
});

describe('KnownRows', () => {
  it('keeps its slots equal to its ids through add, delete, clear and a new index', () => {
    const index = new NearIndex();
    const known = KnownRows.from(['a', 'b'], index);
    const slot = (id: string) => index.slot(id);
    expect([slot('a'), slot('b')].map((s) => known.hasSlot(s))).toEqual([true, true]);
    known.add('c');
    known.delete('a');
    expect(['a', 'b', 'c'].map((id) => known.hasSlot(slot(id)))).toEqual([false, true, true]);
    // An id never given a slot, deleted: nothing else changes.
    expect(known.delete('zz')).toBe(false);
    expect(['b', 'c'].map((id) => known.hasSlot(slot(id)))).toEqual([true, true]);

    // A new index gives other slots: the bits follow the ids, not the old slots.
    const next = new NearIndex();
    for (const id of ['x', 'y', 'c', 'b']) next.slot(id);
    known.attach(next);
    expect(['x', 'y', 'c', 'b'].map((id) => known.hasSlot(next.slot(id)))).toEqual([false, false, true, true]);
    known.clear();
    expect(['c', 'b'].map((id) => known.hasSlot(next.slot(id)))).toEqual([false, false]);
    expect(known.size).toBe(0);
  });

  it('grows its bitset for slots past the first words', () => {
    const index = new NearIndex();
    const known = new KnownRows(index);
    for (let i = 0; i < 200; i++) index.slot(`r${i}`);
    known.add('r199');
    known.add('r31');
    known.add('r32');
    const set = [...Array(200).keys()].filter((i) => known.hasSlot(index.slot(`r${i}`)));
    expect(set).toEqual([31, 32, 199]);
  });
});
