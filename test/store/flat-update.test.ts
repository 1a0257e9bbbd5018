import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRebindError } from '../../server/errors.ts';
import { updateFlatRow } from '../../server/store/flat-update.ts';
import { produceWithPatches } from '../../server/store/store.ts';
import { defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { onCommit, transact, type StoreChange } from '../../server/store/transaction.ts';

allowStandaloneStores();

// The flat-row path (a plain copy as the draft) must be indistinguishable
// from immer's: the same new row, the same patches, the same refusals, for
// any recipe. Each recipe below runs once against each path.

type Row = Record<string, unknown>;
type Step = { kind: 'set'; key: string; value: unknown } | { kind: 'delete'; key: string } | { kind: 'bump'; key: string };

const keys = fc.constantFrom('x', 'y', 'name', 'score', 'online', '__proto__', 'constructor', 'extra');
const primitive = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1.5, null, true, false, 'a', ''), fc.string({ maxLength: 3 }));
const value = fc.oneof({ weight: 5, arbitrary: primitive }, { weight: 1, arbitrary: fc.constantFrom(undefined) }, { weight: 1, arbitrary: fc.array(fc.integer(), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.record({ a: fc.integer() }) });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: keys, value }),
  fc.record({ kind: fc.constant('delete' as const), key: keys }),
  fc.record({ kind: fc.constant('bump' as const), key: keys }),
);
// Own keys only, "__proto__" among them, as rows restored from the journal have them.
const row = fc.dictionary(keys, primitive, { maxKeys: 6 }).map((r) => Object.freeze(JSON.parse(JSON.stringify(r)) as Row));
const ending = fc.constantFrom('mutate', 'return draft', 'replace', 'replace and mutate');

function recipeOf(base: Row, steps: Step[], end: string): (d: Row) => Row | undefined {
  return (d: Row): Row | undefined => {
    for (const s of steps) {
      // `__proto__` through assignment is refused on both paths; Object.defineProperty is how data gets such a key.
      if (s.kind === 'set' && s.key !== '__proto__') d[s.key] = s.value;
      // (immer also takes deleting an absent key that Object.prototype has, "constructor", for a change: a remove of nothing; the flat path sees no change.)
      else if (s.kind === 'delete' && (Object.hasOwn(base, s.key) || !(s.key in base))) delete d[s.key];
      else if (s.kind === 'bump' && s.key !== '__proto__' && typeof d[s.key] === 'number') d[s.key] = (d[s.key] as number) + 1;
    }
    if (end === 'return draft') return d;
    if (end === 'replace' && steps.length === 0) return { replaced: true };
    if (end === 'replace and mutate') {
      d.touched = 1;
      return { replaced: true };
    }
    return undefined;
  };
}

// 0 written over -0 or back is no patch on either path; whether immer's row (and a later patch of the field) then holds the old zero or the new one depends on the order of writes.
const zeroes = (row: unknown): unknown => (row !== null && typeof row === 'object' && !Array.isArray(row) ? Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])) : row);

function outcome(run: () => { next: unknown; patches: unknown[] }): unknown {
  try {
    const { next, patches } = run();
    return { next: zeroes(next), patches: patches.map(zeroes), frozen: Object.isFrozen(next) };
  } catch (err) {
    return { error: isRebindError(err) ? err.code : (err as Error).message };
  }
}

describe('flat rows are updated without immer, exactly as immer would', () => {
  it('the same row, patches and errors for random recipes (fast-check)', () => {
    fc.assert(
      fc.property(row, fc.array(step, { maxLength: 6 }), ending, (base, steps, end) => {
        const viaImmer = outcome(() => {
          const { next, patches } = produceWithPatches<Row>('t.r', base, recipeOf(base, steps, end));
          return { next, patches: patches.map((p) => ({ ...p, path: ['r', ...p.path] })) };
        });
        const viaCopy = outcome(() => updateFlatRow<Row>('t', 'r', base, recipeOf(base, steps, end))!);
        // Patches on different fields commute: compared as sets, each with its path.
        const sorted = (o: unknown) => {
          const r = o as { patches?: Array<{ path: unknown[] }> };
          if (r.patches) r.patches = [...r.patches].sort((a, b) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path)));
          return r;
        };
        expect(sorted(viaCopy)).toEqual(sorted(viaImmer));
        // Unchanged is the same object, as with immer. (immer also hands back a new, equal row when a recipe added a key and deleted it again.)
        const a = viaImmer as { next?: unknown };
        const b = viaCopy as { next?: unknown };
        if (a.next === base) expect(b.next).toBe(base);
      }),
      { numRuns: 3000 },
    );
  });

  it('leaves rows holding objects or arrays to immer', () => {
    expect(updateFlatRow('t', 'r', Object.freeze({ a: { b: 1 } }), () => undefined)).toBeUndefined();
    expect(updateFlatRow('t', 'r', Object.freeze([1, 2]), () => undefined)).toBeUndefined();
    expect(updateFlatRow('t', 'r', 5, () => undefined)).toBeUndefined();
  });

  it('refuses a prototype change, as immer does', () => {
    const base = Object.freeze({ x: 1 });
    const refusal = (recipe: (d: Row) => void): string => {
      try {
        updateFlatRow<Row>('t', 'r', base, recipe);
      } catch (err) {
        return isRebindError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
      }
      return 'accepted';
    };
    expect(refusal((d) => void ((d as { __proto__: unknown }).__proto__ = { evil: 1 }))).toMatch(/^NOT_PLAIN_DATA: t\.r: a key named "__proto__"/);
    expect(refusal((d) => void ((d as { __proto__: unknown }).__proto__ = 5))).toMatch(/^NOT_PLAIN_DATA/);
    expect(refusal((d) => void Object.setPrototypeOf(d, { evil: 1 }))).toMatch(/^NOT_PLAIN_DATA/);
    expect(base).toEqual({ x: 1 });
  });

  it('stores exactly what its patches say when a recipe defines fields on its copy (an accessor, a hidden field, a symbol key)', () => {
    const base = Object.freeze({ x: 1, y: 1 });
    let reads = 0;
    const { next, patches } = updateFlatRow<Row>('t', 'r', base, (d) => {
      // A getter that changes at every read: the row holds the value the patch carries.
      Object.defineProperty(d, 'x', { get: () => 10 + ++reads, enumerable: true, configurable: true });
      Object.defineProperty(d, 'y', { value: 2, enumerable: false });
      d[Symbol('s') as unknown as string] = 3;
    })!;
    expect(Object.getOwnPropertyDescriptor(next, 'x')).toEqual({ value: 11, writable: false, enumerable: true, configurable: false });
    expect(Reflect.ownKeys(next as object)).toEqual(['x']);
    expect(patches).toEqual([
      { op: 'replace', path: ['r', 'x'], value: 11 },
      { op: 'remove', path: ['r', 'y'] },
    ]);
    expect(Object.isFrozen(next)).toBe(true);
  });

  it('a draft kept after the recipe does not reach the stored row', () => {
    const table = defineTable<{ x: number }>('flat-kept');
    table.set('a', { x: 1 });
    let kept: { x: number } | undefined;
    table.update('a', (d) => {
      d.x = 2;
      kept = d;
    });
    kept!.x = 3;
    expect(table.get('a')).toEqual({ x: 2 });
    expect(Object.isFrozen(table.get('a'))).toBe(true);
  });

  it('a table commits the flat path’s patches with the row id in front, new objects frozen, nothing for no change', () => {
    const table = defineTable<{ x: number; tag?: { n: number } }>('flat-commit');
    table.set('a', { x: 1 });
    const seen: StoreChange[][] = [];
    const stop = onCommit((c) => seen.push(c));
    transact(() => {
      table.update('a', (d) => {
        d.x = 2;
        d.tag = { n: 1 };
      });
      table.update('a', (d) => void (d.x = 2));
    });
    table.update('a', (d) => void (d.x = 2));
    stop();
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]!.patches).toEqual([
      { op: 'replace', path: ['a', 'x'], value: 2 },
      { op: 'add', path: ['a', 'tag'], value: { n: 1 } },
    ]);
    expect(Object.isFrozen(table.get('a')!.tag)).toBe(true);
  });
});
