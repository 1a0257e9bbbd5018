import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import type { RoomView } from '../../server/api.ts';
import { Rooms } from '../../server/net/rooms.ts';
import { viewSnapshot } from '../../server/net/view-snapshot.ts';
import { StoreRegistry } from '../../server/store/registry.ts';
import { Store } from '../../server/store/store.ts';
import { Table } from '../../server/store/table.ts';
import { onCommit, transact } from '../../server/store/transaction.ts';
import { ReplicaReader } from './replica-reader.ts';

// The client's replica equals the server's view of the room, after random
// sequences of table and store changes, joins, leaves, view changes and
// patches of a view filter's code. The server side is the real Rooms over
// real stores and transactions; each member reads the real bytes (msgpack or
// JSON) with the client library's own decoder. The model is computed from
// the stores directly: what each view shows, by definition.

interface Row {
  x: number;
  y: number;
  hp: number;
  tags: string[];
}

const IDS = ['p0', 'p1', 'p2', 'p3', '__proto__', 'constructor'];
const FILTERS: Record<string, (row: Row, viewer: string) => boolean> = {
  even: (row) => Math.round(row.x) % 2 === 0,
  alive: (row) => row.hp > 0,
  before: (row, viewer) => row.x <= (rowsTable?.get(viewer)?.x ?? -Infinity),
  throws: () => {
    throw new Error('filter bug');
  },
};
let rowsTable: Table<Row> | undefined;
let off: (() => void) | undefined;
afterEach(() => off?.());

type Action =
  | { t: 'setRow'; id: string; row: Row }
  | { t: 'move'; id: string; x: number; y: number }
  | { t: 'moveAndHit'; id: string; x: number; y: number; hp: number }
  | { t: 'tag'; id: string; tag: string }
  | { t: 'hitAndTag'; id: string; hp: number; tag: string }
  | { t: 'untag'; id: string; n: number }
  | { t: 'deleteRow'; id: string }
  | { t: 'conf'; key: string; value: number }
  | { t: 'confList'; value: number; drop: number }
  | { t: 'confReplace'; value: number }
  | { t: 'join'; id: string; json: boolean }
  | { t: 'leave'; id: string }
  | { t: 'view'; which: number }
  | { t: 'swapSight' }
  | { t: 'patchFilter'; to: string }
  | { t: 'flush' };

const coord = fc.oneof(fc.integer({ min: -50, max: 900 }), fc.double({ min: -50, max: 900, noNaN: true }).map((v) => (Object.is(v, -0) ? 0 : v)), fc.integer({ min: -500, max: 9000 }).map((v) => v / 10));
const id = fc.constantFrom(...IDS);
const rowArb = fc.record({ x: coord, y: coord, hp: fc.integer({ min: -2, max: 3 }), tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }) });
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('setRow' as const), id, row: rowArb }),
  fc.record({ t: fc.constant('move' as const), id, x: coord, y: coord }),
  // Three fields of a row set in one tick: a row group of three fields.
  fc.record({ t: fc.constant('moveAndHit' as const), id, x: coord, y: coord, hp: fc.integer({ min: -2, max: 3 }) }),
  fc.record({ t: fc.constant('tag' as const), id, tag: fc.string({ maxLength: 4 }) }),
  fc.record({ t: fc.constant('untag' as const), id, n: fc.integer({ min: 1, max: 2 }) }),
  // A field set and a change below another field of the same row, in one transaction.
  fc.record({ t: fc.constant('hitAndTag' as const), id, hp: fc.integer({ min: -2, max: 3 }), tag: fc.string({ maxLength: 4 }) }),
  fc.record({ t: fc.constant('deleteRow' as const), id }),
  fc.record({ t: fc.constant('conf' as const), key: fc.constantFrom('a', 'b', 'c'), value: coord }),
  fc.record({ t: fc.constant('confList' as const), value: fc.integer(), drop: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ t: fc.constant('confReplace' as const), value: fc.integer() }),
  fc.record({ t: fc.constant('join' as const), id, json: fc.boolean() }),
  fc.record({ t: fc.constant('leave' as const), id }),
  fc.record({ t: fc.constant('view' as const), which: fc.integer({ min: 0, max: 5 }) }),
  fc.constant({ t: 'swapSight' as const }),
  fc.record({ t: fc.constant('patchFilter' as const), to: fc.constantFrom(...Object.keys(FILTERS)) }),
  fc.constant({ t: 'flush' as const }),
  fc.constant({ t: 'flush' as const }),
);

const VIEWS: RoomView[] = [
  { rows: true, conf: true },
  { rows: { filter: 'views.visible' }, conf: ['a', 'list'] },
  { rows: { near: { radius: 120 } }, conf: ['list'] },
  { rows: { near: { radius: 300, cell: 50 } } },
  { rows: ['p0', '__proto__.x'], conf: true },
  // The radius view's stores seen the same way but through a filter: switching between the two keeps each member's rows.
  { rows: { filter: 'views.visible' }, conf: ['list'] },
];

interface Conf {
  a: number;
  b: number;
  list: number[];
}

function expected(view: RoomView, viewer: string, rows: Table<Row>, conf: Store<Conf>, filter: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(view)) {
    const whole = name === 'rows' ? rows.current() : conf.current();
    if (spec === true) out[name] = whole;
    else if (Array.isArray(spec)) out[name] = viewSnapshot(whole, spec.map((p) => p.split('.')));
    else {
      const shown: Record<string, unknown> = {};
      const me = rows.get(viewer);
      for (const [rid, row] of rows.entries()) {
        let ok: boolean;
        if ('filter' in spec) {
          try {
            ok = FILTERS[filter]!(row, viewer) === true;
          } catch {
            ok = false;
          }
        } else ok = me !== undefined && (row.x - me.x) ** 2 + (row.y - me.y) ** 2 <= spec.near.radius ** 2;
        if (ok) Object.defineProperty(shown, rid, { value: row, enumerable: true, writable: true, configurable: true });
      }
      out[name] = shown;
    }
  }
  return out;
}

/** Rows a replica holds of a table must each be the server's row; the rest are on their way. */
function subset(got: unknown, want: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys((got ?? {}) as object)) {
    const row = Object.getOwnPropertyDescriptor(want, key)?.value;
    Object.defineProperty(out, key, { value: row, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// Pieces of 1 MB: every row fits one tick, so every flush leaves every replica
// complete. Pieces of 60 bytes: about one row a tick, so changes, leaves and view
// changes land while a joiner's rows are still coming; each row it holds must be
// right at every flush, and after enough quiet ticks it holds all of them.
it.each([
  ['whole rooms at every tick', 1 << 20],
  ['rows a few at a time', 60],
])('keeps every member\'s replica equal to what its view shows, through random changes, joins, leaves, views and filter patches (%s)', (_, pieceBytes) => {
  fc.assert(
    fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
      off?.();
      const registry = new StoreRegistry();
      const rows = new Table<Row>('rows');
      rowsTable = rows;
      const conf = new Store<Conf>('conf', { a: 1, b: 2, list: [] });
      registry.add(rows, 'test');
      registry.add(conf, 'test');
      let filter = 'even';
      const live: Record<string, unknown> = { 'views.visible': FILTERS.even };
      // With small pieces, the key dictionary also starts again whenever it outgrows twice the rows.
      const rooms = new Rooms(registry, { resolve: (name) => live[name], pieceBytes, ...(pieceBytes < 1000 ? { keysBeforeReset: 0 } : {}) });
      off = onCommit((changes) => rooms.onCommit(changes));
      let view = VIEWS[0]!;
      rooms.setView('r', view);
      const members = new Map<string, ReplicaReader>();
      const check = (partial: boolean) => {
        for (const [who, reader] of members) {
          const got = reader.replicas.rooms.get('r')!;
          const want = expected(view, who, rows, conf, filter);
          if (partial && got) for (const [name, spec] of Object.entries(view)) if (name === 'rows' && !Array.isArray(spec)) want[name] = subset(got[name], want[name]);
          expect(got, `${who}'s replica`).toEqual(want);
        }
      };
      const tiny = pieceBytes < 1000;
      for (const a of actions) {
        switch (a.t) {
          case 'setRow':
            rows.set(a.id, a.row);
            break;
          case 'move':
            if (rows.has(a.id)) transact(() => rows.update(a.id, (d) => Object.assign(d, { x: a.x, y: a.y })));
            break;
          case 'moveAndHit':
            if (rows.has(a.id)) rows.update(a.id, (d) => Object.assign(d, { x: a.x, y: a.y, hp: a.hp }));
            break;
          case 'tag':
            if (rows.has(a.id)) rows.update(a.id, (d) => void d.tags.push(a.tag));
            break;
          case 'hitAndTag':
            if (rows.has(a.id)) rows.update(a.id, (d) => {
              d.hp = a.hp;
              d.tags.push(a.tag);
            });
            break;
          case 'untag':
            if (rows.has(a.id)) rows.update(a.id, (d) => void d.tags.splice(0, a.n));
            break;
          case 'deleteRow':
            rows.delete(a.id);
            break;
          case 'conf':
            conf.update((d) => void ((d as unknown as Record<string, number>)[a.key] = a.value));
            break;
          case 'confList':
            conf.update((d) => {
              d.list.push(a.value);
              if (d.list.length > 4) d.list.splice(0, a.drop);
            });
            break;
          case 'confReplace':
            conf.update(() => ({ a: a.value, b: 0, list: [a.value] }));
            break;
          case 'join': {
            if (members.has(a.id)) break;
            const reader = new ReplicaReader(a.id, a.json ? 'json' : 'msgpack');
            members.set(a.id, reader);
            rooms.join('r', reader);
            break;
          }
          case 'leave':
            members.delete(a.id);
            rooms.leave('r', a.id);
            break;
          case 'view':
            view = VIEWS[a.which]!;
            rooms.setView('r', view);
            break;
          case 'swapSight':
            // The radius and the filter over the same stores, back and forth: members keep their rows across each switch.
            view = view === VIEWS[2] ? VIEWS[5]! : VIEWS[2]!;
            rooms.setView('r', view);
            break;
          case 'patchFilter':
            // A patch: the same name, new code.
            filter = a.to;
            live['views.visible'] = (row: Row, viewer: string) => FILTERS[a.to]!(row, viewer);
            break;
          case 'flush':
            rooms.flush();
            check(tiny);
            break;
        }
      }
      for (let i = 0; i < (tiny ? IDS.length + 1 : 1); i++) rooms.flush();
      check(false);
    }),
    { numRuns: 1500 },
  );
});
