import { freeze, nothing, type Draft } from 'immer';
import type { StorePatch } from './array-delta.ts';
import { rebindError } from '../errors.ts';
import { NEW_PROTO_KEY, plainDrafts } from './store.ts';

// Most table rows are flat: every field a string, number, boolean or null (a
// player's x, y, score). A recipe can then only add, change or delete fields,
// so a shallow copy is a complete draft: run the recipe on it and compare it
// with the row field by field. It gives what immer's produceWithPatches gives
// (the same patches, the same row) at a fraction of the cost: no proxy, no
// scope, no finalize walk. Rows holding objects or arrays still go through
// immer.
//
// The new row is built from the values the comparison read, so it is exactly
// what the patches say, whatever the recipe did to its copy: a field it made
// an accessor is stored as the value read, one it hid or keyed by a symbol is
// not stored (immer's draft throws for these; a plain copy cannot refuse
// them). Changing the copy's prototype is refused, as immer refuses it.

const IMMER_RETURNED_AND_MODIFIED =
  '[Immer] An immer producer returned a new value *and* modified its draft. Either return a new value *or* modify the draft.';

/** How many fields `row` has if every one is a primitive (then a shallow copy is a complete draft), else -1. */
function flatFields(row: object): number {
  let count = 0;
  for (const key in row) {
    const value = (row as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null) return -1;
    count++;
  }
  return count;
}

/** What immer's path says of a write through `__proto__` (store.ts), named as it names it. */
function protoError(store: string): Error {
  return rebindError('NOT_PLAIN_DATA', `${store}: ${NEW_PROTO_KEY}`, { details: { store } });
}

/**
 * Runs `recipe` on a copy of the flat object `base` and returns the new row
 * and its patches (paths start with `id`), or undefined if `base` is not a
 * flat plain object (the caller uses immer).
 */
export function updateFlatRow<Row>(store: string, id: string, base: Row, recipe: (draft: Draft<Row>) => Draft<Row> | void | undefined): { next: Row; patches: StorePatch[] } | undefined {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return undefined;
  const proto = Object.getPrototypeOf(base);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const fields = flatFields(base);
  if (fields < 0) return undefined;
  // Spread defines own keys (an own "__proto__" stays a key); a row without a prototype keeps none.
  const draft: Record<string, unknown> = proto === null ? Object.assign(Object.create(null), base) : { ...(base as object) };
  // A stack, cut back rather than popped: a recipe stopped by a time limit runs no `finally`, and its entry goes at the next update.
  const depth = plainDrafts.length;
  plainDrafts.push(draft);
  let result: unknown;
  try {
    result = recipe(draft as Draft<Row>);
  } catch (err) {
    if (err instanceof Error && err.message === NEW_PROTO_KEY) throw protoError(`${store}.${id}`);
    throw err;
  } finally {
    // Popped when nothing was left behind (setting an array's length is a runtime call; this runs per update).
    if (plainDrafts.length === depth + 1) plainDrafts.pop();
    else plainDrafts.length = depth;
  }
  // `d.__proto__ = x` is refused by the setter (store.ts); Object.setPrototypeOf is seen here.
  if (Object.getPrototypeOf(draft) !== proto) throw protoError(`${store}.${id}`);
  const old = base as Record<string, unknown>;
  if (result !== undefined && result !== draft) {
    // A new value replaces the row, as immer does; it may not also have changed the draft.
    if (diff(id, old, fields, draft)) throw new Error(IMMER_RETURNED_AND_MODIFIED);
    const next = (result === nothing ? undefined : freeze(result, true)) as Row;
    return { next, patches: [{ op: 'replace', path: [id], value: next }] };
  }
  const patches: StorePatch[] = [];
  const next: Record<string, unknown> = proto === null ? Object.create(null) : {};
  if (!diff(id, old, fields, draft, { patches, next })) return { next: base, patches };
  Object.freeze(next);
  for (const p of patches) if (p.op !== 'remove' && typeof p.value === 'object' && p.value !== null) freeze(p.value, true);
  return { next: next as Row, patches };
}

/**
 * Whether `draft` differs from `base` (of `fields` fields), by Object.is, as
 * immer decides that a draft changed; into `out` (if given) the patches (a
 * value equal by `===` is no change: immer's rule for its patches) and the
 * new row: the draft's enumerable own fields, each value as read here.
 */
function diff(id: string, base: Record<string, unknown>, fields: number, draft: Record<string, unknown>, out?: { patches: StorePatch[]; next: Record<string, unknown> }): boolean {
  let modified = false;
  let kept = 0;
  // The draft's own keys (its prototype is Object.prototype or null: nothing enumerable is inherited).
  for (const key in draft) {
    const value = draft[key];
    if (out) {
      if (key === '__proto__') Object.defineProperty(out.next, key, { value, writable: true, enumerable: true, configurable: true });
      else out.next[key] = value;
    }
    if (!Object.hasOwn(base, key)) {
      modified = true;
      out?.patches.push({ op: 'add', path: [id, key], value });
      continue;
    }
    kept++;
    const before = base[key];
    if (Object.is(before, value)) continue;
    modified = true;
    if (before !== value) out?.patches.push({ op: 'replace', path: [id, key], value });
  }
  if (kept < fields) {
    modified = true;
    if (out) for (const key in base) if (!Object.hasOwn(out.next, key)) out.patches.push({ op: 'remove', path: [id, key] });
  }
  return modified;
}
