import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Rooms } from '../../server/net/rooms.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Table } from '../../server/store/table.ts';

// A radius view looks at the grid cells within reach of each member. Counting
// cells one by one never ended for a member whose x / cell was past 2^53 (or
// overflowed), or whose radius was a billion cells: the whole server hung,
// and hung again after a restart, from one coordinate a player's handler wrote.
// A radius so large (or small) that its square overflows let rows half a radius
// beyond it in. Each case runs in a child process, so that a hang fails the test instead of
// stopping the test run.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Case {
  radius: number;
  cell?: number;
  rows: Record<string, { x: number; y: number }>;
}

/** The ids each member's replica holds after two ticks, computed in a child process given 20 s. */
function replicasOf(c: Case): Record<string, string[]> {
  const script = `
import { Rooms } from './server/net/rooms.ts';
import { StoreRegistry } from './server/store/registry.ts';
import { Table } from './server/store/table.ts';
import { onCommit, transact } from './server/store/transaction.ts';
import { ReplicaReader } from './test/sync/replica-reader.ts';
const c = JSON.parse(process.env.CASE);
const registry = new StoreRegistry();
const players = new Table('players');
registry.add(players, 'test');
const rooms = new Rooms(registry);
onCommit((changes) => rooms.onCommit(changes));
rooms.setView('r', { players: { near: c.cell === undefined ? { radius: c.radius } : { radius: c.radius, cell: c.cell } } });
transact(() => { for (const [id, row] of Object.entries(c.rows)) players.set(id, row); });
const members = Object.keys(c.rows).map((id) => new ReplicaReader(id));
for (const m of members) rooms.join('r', m);
rooms.flush();
rooms.flush();
process.stdout.write(JSON.stringify(Object.fromEntries(members.map((m) => [m.player, Object.keys(m.replicas.rooms.get('r')?.players ?? {}).sort()]))));
`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, CASE: JSON.stringify(c) }, encoding: 'utf8', timeout: 20_000 });
  if (run.error || run.status !== 0) throw new Error(`the sync did not finish: ${run.error?.message ?? `exit ${run.status}`} ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, string[]>;
}

/** What each member should see: the rows within the radius of its own (itself included). */
function expected(c: Case): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [viewer, me] of Object.entries(c.rows)) {
    out[viewer] = Object.entries(c.rows)
      .filter(([, row]) => Math.hypot(row.x - me.x, row.y - me.y) <= c.radius)
      .map(([id]) => id)
      .sort();
  }
  return out;
}

describe('radius views with far coordinates and extreme radii finish each tick', () => {
  const cases: Array<[string, Case]> = [
    ['a member at x = 2e18 (x / cell past 2^53)', { radius: 150, rows: { far: { x: 2e18, y: 0 }, near: { x: 2e18, y: 100 }, home: { x: 10, y: 10 } } }],
    ['members at -2e18 and 1e300', { radius: 150, rows: { a: { x: -2e18, y: 5 }, b: { x: 1e300, y: -1e300 }, c: { x: 1e300, y: -1e300 }, d: { x: 0, y: 0 } } }],
    ['a radius of a billion cells', { radius: 1e9, cell: 1, rows: { a: { x: 0, y: 0 }, b: { x: 5e8, y: 5e8 }, c: { x: 2e9, y: 0 } } }],
    ['a tiny radius near the origin (x / cell overflows)', { radius: 1e-320, rows: { a: { x: 10, y: 0 }, b: { x: 10, y: 0 }, c: { x: 11, y: 0 } } }],
    ['a cell of 1e-9 with ordinary coordinates', { radius: 150, cell: 1e-9, rows: { a: { x: 100, y: 100 }, b: { x: 200, y: 150 }, c: { x: 700, y: 500 } } }],
    // The radius squared overflows (or underflows): rows in the next cell, half a radius beyond it, must stay out.
    ['a radius of 1e200', { radius: 1e200, rows: { a: { x: 0, y: 0 }, b: { x: 1.5e200, y: 0 }, c: { x: 0, y: 0.5e200 } } }],
    ['a radius of 1e-200', { radius: 1e-200, rows: { a: { x: 0, y: 0 }, b: { x: 1.5e-200, y: 0 }, c: { x: 0, y: 0.5e-200 } } }],
  ];
  it.each(cases)('%s', (_, c) => {
    expect(replicasOf(c)).toEqual(expected(c));
  });
});

describe('radius and filter view specs are checked', () => {
  const rooms = () => {
    const registry = new StoreRegistry();
    registry.add(new Table('players'), 'test');
    return new Rooms(registry);
  };
  it.each([
    [{ near: { radius: 100 }, filter: 'x.y' }, 'one of { filter: "module.export" } or { near: { radius } }, got an object with the keys "near", "filter"'],
    [{}, 'got an object with no keys'],
    [{ near: { radius: 100, colour: 'red' } }, 'near takes radius and cell, not "colour"'],
    [{ near: { radius: Number.NaN } }, 'near.radius must be a finite number above 0, got NaN'],
    [{ near: { radius: 10, cell: Number.POSITIVE_INFINITY } }, 'near.cell must be a finite number above 0, got Infinity'],
    [{ near: [100] }, 'must be true, a list of dotted paths'],
    [{ near: { radius: 100n } }, 'near.radius must be a finite number above 0, got 100n (a BigInt)'],
    [{ near: { radius: new Number(100) } }, 'near.radius must be a finite number above 0, got an object of class Number'],
  ])('%o is refused with BAD_REQUEST saying what is wrong', (spec, message) => {
    expect(() => rooms().setView('r', { players: spec as never })).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining(message) }));
  });
});
