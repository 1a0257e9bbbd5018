import { afterEach, expect, it } from 'vitest';
import { Rooms } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';
import { ReplicaReader } from './replica-reader.ts';

// A filter that is not there (a patch renamed it), or that answers anything
// but true or false (a promise, 1, nothing): every row it judges stays
// hidden, as before, but now the host hears why instead of nothing.

let off: (() => void) | undefined;
afterEach(() => off?.());

function room(filter: unknown) {
  const registry = new StoreRegistry();
  const rows = new Table<{ owner: string }>('units');
  registry.add(rows, 'test');
  const failures: Array<{ name: string; message: string }> = [];
  const rooms = new Rooms(registry, { resolve: (name) => (name === 'fog.visible' ? filter : undefined), onFilterError: (name, err) => failures.push({ name, message: (err as Error).message }) });
  off = onCommit((changes) => rooms.onCommit(changes));
  rooms.setView('r', { units: { filter: 'fog.visible' } });
  rows.set('u1', { owner: 'p1' });
  const reader = new ReplicaReader('p1');
  rooms.join('r', reader);
  rooms.flush();
  transact(() => rows.set('u2', { owner: 'p1' }));
  rooms.flush();
  return { failures, seen: reader.replicas.rooms.get('r')!.units as Record<string, unknown> };
}

it('a filter no live function is named: every row hidden, and the host is told which name and why', () => {
  const { failures, seen } = room(undefined);
  expect(seen).toEqual({});
  expect(failures.length).toBeGreaterThan(0);
  expect(failures[0]).toMatchObject({ name: 'fog.visible', message: expect.stringMatching(/no live function is named fog\.visible.*"units" stays hidden/) });
});

it.each([
  ['1', () => 1, /returned number 1, not true or false/],
  ['nothing', () => undefined, /returned nothing, not true or false/],
  ['a promise', async () => true, /returned a promise \(filters must be synchronous\)/],
  ['a rejected promise', async () => Promise.reject(new Error('late')), /returned a promise/],
])('a filter that returns %s hides the row and is reported', async (_, filter, message) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { failures, seen } = room(filter);
    expect(seen).toEqual({});
    expect(failures.some((f) => f.name === 'fog.visible' && message.test(f.message))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

it('a filter that answers true or false is not reported', () => {
  const { failures, seen } = room((row: { owner: string }, viewer: string) => row.owner === viewer);
  expect(Object.keys(seen).sort()).toEqual(['u1', 'u2']);
  expect(failures).toEqual([]);
});
