import { describe, expect, it } from 'vitest';
import type { EncodedOnce } from '../../server/net/codec.ts';
import { Rooms, type Member } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Store } from '../../server/store/store.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';

// A view's filter only decides what a member sees: it runs in the sync,
// between transactions, where a write would be owned by no handler. Its
// writes are refused (LOGIC_FORBIDDEN), the row stays hidden, and the host
// hears of it; nothing is written.

class Inbox implements Member {
  frames = 0;
  constructor(readonly player: string) {}
  deliver(_message: EncodedOnce): boolean {
    this.frames++;
    return true;
  }
  queued(): number {
    return 0;
  }
}

describe('a view filter that writes', () => {
  it.each(['table', 'store', 'store in a transaction'] as const)('is refused with LOGIC_FORBIDDEN and writes nothing (%s)', (target) => {
    const registry = new StoreRegistry();
    const players = new Table<{ x: number }>('players');
    const counter = new Store('counter', { n: 0 });
    registry.add(players, 'test');
    registry.add(counter, 'test');
    const errors: Array<{ name: string; err: unknown }> = [];
    const filter = (row: unknown, _viewer: string): boolean => {
      if (target === 'table') players.set('p-ghost', { x: 0 });
      else if (target === 'store') counter.update((d) => void (d.n += 1));
      else transact(() => counter.update((d) => void (d.n += 1)));
      return row !== null;
    };
    const rooms = new Rooms(registry, { resolve: (name) => (name === 'spy.look' ? filter : undefined), onFilterError: (name, err) => errors.push({ name, err }) });
    const off = onCommit((changes) => rooms.onCommit(changes));
    try {
      rooms.setView('r', { players: { filter: 'spy.look' } });
      players.set('p-a', { x: 1 });
      const a = new Inbox('p-a');
      rooms.join('r', a);
      rooms.flush();
      rooms.flush();
      expect(errors.length).toBeGreaterThan(0);
      for (const { name, err } of errors) {
        expect(name).toBe('spy.look');
        expect(err).toMatchObject({ code: 'LOGIC_FORBIDDEN', message: expect.stringContaining('view filter spy.look may not write to stores') });
      }
      expect(players.get('p-ghost')).toBeUndefined();
      expect(counter.get().n).toBe(0);
      // A filter that only reads still works beside it: writes are refused only while a filter runs.
      players.set('p-b', { x: 2 });
      expect(players.get('p-b')).toEqual({ x: 2 });
    } finally {
      off();
    }
  });
});
