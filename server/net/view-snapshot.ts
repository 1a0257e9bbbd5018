import { setOwn } from '../../client/replica.ts';

// The part of a store a list of paths shows, shaped like the store so that
// changes at those paths apply to it.

function valueAt(root: unknown, path: readonly string[]): unknown {
  let at = root;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

export function viewSnapshot(whole: unknown, paths: ReadonlyArray<readonly string[]>): unknown {
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    if (path.length === 0) return whole;
    const value = valueAt(whole, path);
    if (value === undefined) continue;
    // Own keys only: a row or field named "__proto__" is data here, never a prototype.
    let at = out;
    for (const key of path.slice(0, -1)) {
      if (!Object.hasOwn(at, key)) setOwn(at, key, {});
      at = at[key] as Record<string, unknown>;
    }
    setOwn(at, path[path.length - 1]!, value);
  }
  return out;
}
