import { freeze } from 'immer';
import type { StorePatch } from './array-delta.ts';

// `table.assign(id, { x, y })`: some fields of a row set to new values, the
// commonest write of a game's tick. Only the fields named are looked at, so
// it costs what it changes, where an update recipe gets a copy of the whole
// row and is compared field by field afterwards. The patches and the row are
// the ones `update(id, (d) => Object.assign(d, fields))` gives.

/**
 * The row `base` (a plain object) with `fields` set, and its patches (paths
 * start with `id`); `base` itself and no patch when no field changes.
 */
export function assignFields<Row>(id: string, base: Row, fields: object): { next: Row; patches: StorePatch[] } {
  const old = base as Record<string, unknown>;
  const patches: StorePatch[] = [];
  let next: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = (fields as Record<string, unknown>)[key];
    const had = Object.hasOwn(old, key);
    // Object.is, as immer decides that a draft changed; a value equal by === (0 and -0) changes the row but makes no patch, as immer's patches do.
    if (had && Object.is(old[key], value)) continue;
    next ??= copyOf(old);
    // An own field named "__proto__" is a field like any other (a plain assignment would change the prototype).
    if (key === '__proto__') Object.defineProperty(next, key, { value, writable: true, enumerable: true, configurable: true });
    else next[key] = value;
    if (!had) patches.push({ op: 'add', path: [id, key], value });
    else if (old[key] !== value) patches.push({ op: 'replace', path: [id, key], value });
  }
  if (!next) return { next: base, patches };
  for (const p of patches) if (typeof p.value === 'object' && p.value !== null) freeze(p.value, true);
  return { next: Object.freeze(next) as Row, patches };
}

function copyOf(row: Record<string, unknown>): Record<string, unknown> {
  // Spread defines own keys (an own "__proto__" stays a key); a row without a prototype keeps none.
  return Object.getPrototypeOf(row) === null ? Object.assign(Object.create(null), row) : { ...row };
}

/** Whether `assignFields` can take `row`: a plain object (else `update` with Object.assign does the same). */
export function assignable(row: unknown): row is object {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return false;
  const proto = Object.getPrototypeOf(row);
  return proto === Object.prototype || proto === null;
}
