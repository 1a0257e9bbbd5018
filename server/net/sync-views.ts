import type { RoomView, ViewSpec } from '../api.ts';
import { rebindError } from '../errors.ts';
import type { StoreRegistry } from '../store/registry.ts';
import type { StoreLike } from '../store/store.ts';
import type { Table } from '../store/table.ts';

// What a room's members see of each store. `true` on a plain store and a
// list of paths are the same for every member and travel whole in `$state`.
// A table's rows (`true`, a filter, a radius) are tracked per member: rows
// enter whole (a few at a time, see sync-joins.ts) and leave as removals.
// A filter is a function's name, looked up at each tick: patching it is an
// ordinary patch, and the next tick follows the new code.

export type Sight =
  | { kind: 'whole' }
  | { kind: 'paths'; paths: string[][] }
  | { kind: 'rows' }
  | { kind: 'filter'; name: string }
  | { kind: 'near'; radius: number; cell: number };

export type ParsedView = Map<string, Sight>;

/** A row filter: the row, and the id of the player looking. */
export type RowFilter = (row: unknown, viewer: string) => boolean;

const HANDLER_NAME = /^[A-Za-z0-9_$/-]+\.[A-Za-z_$][A-Za-z0-9_$]*$/;

function parseSight(store: string, spec: ViewSpec, isTable: boolean): Sight {
  if (spec === true) return isTable ? { kind: 'rows' } : { kind: 'whole' };
  if (Array.isArray(spec)) {
    if (!spec.every((p) => typeof p === 'string')) throw rebindError('BAD_REQUEST', `room view for "${store}": a list of paths must hold only dotted paths (strings)`);
    return { kind: 'paths', paths: spec.map((p) => (p === '' ? [] : p.split('.'))) };
  }
  if (spec !== null && typeof spec === 'object') {
    if (!isTable) throw rebindError('BAD_REQUEST', `room view for "${store}": a filter or a radius needs a table (defineTable); "${store}" is a plain store`);
    const keys = Object.keys(spec);
    if (keys.length !== 1 || (keys[0] !== 'filter' && keys[0] !== 'near')) {
      throw rebindError('BAD_REQUEST', `room view for "${store}": a table's view is one of { filter: "module.export" } or { near: { radius } }, got an object with ${keys.length === 0 ? 'no keys' : `the keys ${keys.map((k) => JSON.stringify(k)).join(', ')}`}`);
    }
    if ('filter' in spec) {
      if (typeof spec.filter !== 'string' || !HANDLER_NAME.test(spec.filter)) throw rebindError('BAD_REQUEST', `room view for "${store}": filter must name a function as "module.export", got ${shown(spec.filter)}`);
      return { kind: 'filter', name: spec.filter };
    }
    if ('near' in spec && spec.near !== null && typeof spec.near === 'object' && !Array.isArray(spec.near)) {
      const unknown = Object.keys(spec.near).filter((key) => key !== 'radius' && key !== 'cell');
      if (unknown.length > 0) throw rebindError('BAD_REQUEST', `room view for "${store}": near takes radius and cell, not ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
      const { radius, cell } = spec.near;
      if (typeof radius !== 'number' || !(radius > 0) || !Number.isFinite(radius)) throw rebindError('BAD_REQUEST', `room view for "${store}": near.radius must be a finite number above 0, got ${shown(radius)}`);
      if (cell !== undefined && (typeof cell !== 'number' || !(cell > 0) || !Number.isFinite(cell))) throw rebindError('BAD_REQUEST', `room view for "${store}": near.cell must be a finite number above 0, got ${shown(cell)}`);
      return { kind: 'near', radius, cell: cell ?? radius };
    }
  }
  throw rebindError('BAD_REQUEST', `room view for "${store}" must be true, a list of dotted paths, { filter: "module.export" } or { near: { radius } }`);
}

/** A value as a message shows it: NaN and Infinity as themselves (JSON would say null), a BigInt or a class instance by what it is. */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n (a BigInt)`;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return `an object of class ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown'}`;
  return JSON.stringify(value) ?? String(value);
}

export function parseView(view: RoomView, registry: StoreRegistry): ParsedView {
  if (view === null || typeof view !== 'object' || Array.isArray(view)) throw rebindError('BAD_REQUEST', 'a room view is an object of store names');
  const parsed: ParsedView = new Map();
  for (const [store, spec] of Object.entries(view)) parsed.set(store, parseSight(store, spec, registry.get(store).kind === 'table'));
  return parsed;
}

/** Same stores, each seen the same way: only a filter's name or a radius differ, so members keep what they have. */
export function sameShape(a: ParsedView, b: ParsedView): boolean {
  if (a.size !== b.size) return false;
  for (const [store, sight] of a) {
    const other = b.get(store);
    if (!other) return false;
    const perRow = (s: Sight) => s.kind === 'filter' || s.kind === 'near';
    if (perRow(sight) && perRow(other)) continue;
    if (JSON.stringify(sight) !== JSON.stringify(other)) return false;
  }
  return true;
}

export function startsWith(path: readonly (string | number)[], prefix: readonly string[]): boolean {
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (String(path[i]) !== prefix[i]) return false;
  return true;
}

export function asTable(store: StoreLike): Table<unknown> {
  return store as unknown as Table<unknown>;
}
