import { enablePatches, produce, setAutoFreeze } from 'immer';
import { defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { transact } from '../../server/store/transaction.ts';
import { assignFields } from '../../server/store/assign-fields.ts';
import { updateFlatRow } from '../../server/store/flat-update.ts';
import { produceWithPatches } from '../../server/store/store.ts';
import { median, us, type Row } from './table.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// One player moves among N: a table row copied on write, beside plain immer
// on a keyed record (`{ byId: Record<id, Player> }`), every value frozen.

interface Player {
  x: number;
  y: number;
  name: string;
  score: number;
}

function players(n: number): Record<string, Player> {
  const byId: Record<string, Player> = {};
  for (let i = 0; i < n; i++) byId[`p${i}`] = { x: i, y: i, name: `player ${i}`, score: 0 };
  return byId;
}

function perOp(ops: number, body: (i: number) => void): number {
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) body(i);
    samples.push(((performance.now() - t0) * 1000) / ops);
  }
  return median(samples);
}

export function benchStore(): Row[] {
  enablePatches();
  setAutoFreeze(true);
  const rows: Row[] = [];
  for (const n of [1000, 10_000]) {
    const table = defineTable<Player>(`bench-players-${n}`, { rows: players(n) });
    const ours = perOp(5000, (i) => transact(() => table.update(`p${i % n}`, (d) => void (d.x += 1))));
    let state = produce({ byId: players(n) }, () => undefined);
    const plain = perOp(n >= 10_000 ? 40 : 400, (i) => {
      state = produce(
        state,
        (d) => void (d.byId[`p${i % n}`]!.x += 1),
        () => undefined,
      );
    });
    rows.push({ section: 'store', what: `move one player among ${n.toLocaleString('en')}`, rebind: us(ours), baseline: `${us(plain)} (immer, keyed record)`, goal: '< 10 µs', met: ours < 10 });
  }
  rows.push(flatRowUpdate());
  return rows;
}

/**
 * The arena tick's write, without the table around it: x and y of one of 500
 * rows of eight primitive fields, through the flat-row path (flat-update.ts)
 * and through immer's produceWithPatches, each row a new frozen one each time.
 */
function flatRowUpdate(): Row {
  const start = () => Array.from({ length: 500 }, (_, i) => Object.freeze({ name: `arena${i}`, x: i, y: i, dx: 1, dy: 1, score: 0, color: '#aabbcc', online: true }));
  type Arena = ReturnType<typeof start>[number];
  const moveAll = (update: (id: string, row: Arena, recipe: (d: { x: number; y: number }) => void) => Arena) => {
    let rows = start();
    return perOp(50, () => {
      rows = rows.map((row, i) => {
        const x = row.x + 0.5;
        const y = row.y - 0.5;
        return update(`p${i}`, row, (d) => void Object.assign(d, { x, y }));
      });
    }) / rows.length;
  };
  const flat = moveAll((id, row, recipe) => updateFlatRow('players', id, row, recipe)!.next);
  // table.assign(id, { x, y }), as the demo's tick writes (the recipe is not run: assign is handed the fields).
  const assigned = moveAll((id, row) => assignFields(id, row, { x: row.x + 0.5, y: row.y - 0.5 }).next);
  const immer = moveAll((id, row, recipe) => produceWithPatches(`players.${id}`, row, recipe).next);
  return {
    section: 'store',
    what: 'write x, y of a row of 8 primitive fields (the arena tick), per row',
    rebind: `assign ${us(assigned)}; update with a recipe ${us(flat)}`,
    baseline: `${us(immer)} (immer produceWithPatches)`,
    goal: 'both below immer',
    met: flat < immer && assigned < immer,
  };
}
