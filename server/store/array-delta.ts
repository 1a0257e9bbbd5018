import type { Patch } from 'immer';

// Lists that grow at one end. immer describes `chat.push(line); chat.shift()`
// as a `replace` of every index (each element moved down by one), so a
// bounded log of 50 lines cost 50 lines on the wire and in the journal for
// each line added. When an array's new value is its old value with k items
// dropped from the front and m items appended (compared by identity, which
// immer keeps for every element a recipe did not touch), the array's patches
// are replaced by one `trim` of k and the m `add`s. Any other change keeps
// immer's patches: they are then the smaller description.

/** "Remove the first `value` items of the array at `path`." */
export interface TrimPatch {
  op: 'trim';
  path: Array<string | number>;
  value: number;
}

/** What stores commit, journal and sync: immer's patches, plus `trim`. */
export type StorePatch = Patch | TrimPatch;

type Container = Record<string, unknown> | unknown[];

let compacting = true;

/** Off: immer's patches go out as they come. Only for the benchmark's baseline (tools/bench/lists.ts). */
export function setArrayCompaction(on: boolean): void {
  compacting = on;
}

function child(node: unknown, key: string | number): unknown {
  if (node === null || typeof node !== 'object') return undefined;
  return Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key as string] : undefined;
}

/**
 * The depth of the first array on `patch`'s path, below `from`: the length of
 * the array's path, or -1 if none. A `replace` of a whole array counts as a
 * change of that array (a recipe that assigns `d.log = [...d.log.slice(1), x]`).
 */
function arrayDepth(next: unknown, patch: Patch, from: number): number {
  let node = next;
  const path = patch.path;
  for (let i = from; i < path.length; i++) {
    if (Array.isArray(node)) return i;
    node = child(node, path[i]!);
    if (node === undefined) return -1;
  }
  return patch.op === 'replace' && Array.isArray(node) ? path.length : -1;
}

/**
 * The length of the longest end of `old` that is also the start of `now`
 * (elements compared with Object.is): KMP's failure function over
 * `now ++ [separator] ++ old`, O(|old| + |now|) whatever the elements.
 */
export function overlap(old: readonly unknown[], now: readonly unknown[]): number {
  const separator = Symbol('separator');
  const at = (i: number): unknown => (i < now.length ? now[i] : i === now.length ? separator : old[i - now.length - 1]);
  const total = now.length + 1 + old.length;
  const fail = new Int32Array(total);
  for (let i = 1; i < total; i++) {
    let k = fail[i - 1]!;
    const c = at(i);
    while (k > 0 && !Object.is(at(k), c)) k = fail[k - 1]!;
    if (Object.is(at(k), c)) k++;
    fail[i] = k;
  }
  return total > 0 ? fail[total - 1]! : 0;
}

/**
 * Roughly the MessagePack bytes of `value`, counted only up to `cap` (the
 * caller compares two descriptions and stops once one is clearly larger).
 */
function weight(value: unknown, cap: number): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value === 'number') return 5;
  if (value === null || typeof value !== 'object') return 1;
  let sum = 1;
  if (Array.isArray(value)) {
    for (const item of value) if ((sum += weight(item, cap - sum)) > cap) return sum;
    return sum;
  }
  for (const key of Object.keys(value)) if ((sum += key.length + 2 + weight((value as Record<string, unknown>)[key], cap - sum)) > cap) return sum;
  return sum;
}

const patchWeight = (patch: StorePatch, cap: number) => 4 + 3 * patch.path.length + weight(patch.value, cap);

/** The trim and adds turning `old` into `now`, if they weigh less than `cap`; else undefined. */
function compactForm(path: Array<string | number>, old: readonly unknown[], now: readonly unknown[], cap: number): StorePatch[] | undefined {
  const kept = overlap(old, now);
  const out: StorePatch[] = [];
  let spent = 0;
  if (kept < old.length) {
    out.push({ op: 'trim', path, value: old.length - kept });
    spent += 8 + 3 * path.length;
  }
  for (let i = kept; i < now.length; i++) {
    const add: Patch = { op: 'add', path: [...path, i], value: now[i] };
    if ((spent += patchWeight(add, cap - spent)) >= cap) return undefined;
    out.push(add);
  }
  return spent < cap ? out : undefined;
}

const isPrefix = (short: readonly unknown[], long: readonly unknown[]) => short.length < long.length && short.every((key, i) => key === long[i]);

/**
 * `patches` (immer's, from turning `base` into `next`) with each changed
 * array's patches replaced by its compact form where that is smaller. Paths
 * below `from` are relative to `base` and `next`. Returns `patches` itself
 * when no array changed (the common case costs a walk of each patch's path).
 */
export function compactArrayPatches(base: unknown, next: unknown, patches: readonly Patch[], from = 0): StorePatch[] {
  if (!compacting) return patches as Patch[];
  const depths = patches.map((p) => arrayDepth(next, p, from));
  if (depths.every((d) => d < 0)) return patches as Patch[];
  // Each array's patches, keyed by the array's path, in order of first appearance.
  const groups = new Map<string, { path: Array<string | number>; patches: Patch[] }>();
  const keyOf = (p: Patch, depth: number) => JSON.stringify(p.path.slice(0, depth));
  patches.forEach((p, i) => {
    const depth = depths[i]!;
    if (depth < 0) return;
    const key = keyOf(p, depth);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { path: p.path.slice(0, depth), patches: [] }));
    group.patches.push(p);
  });
  const replaced = new Map<string, StorePatch[]>();
  for (const [key, group] of groups) replaced.set(key, compactGroup(base, next, group.path, group.patches, patches, from));
  const out: StorePatch[] = [];
  patches.forEach((p, i) => {
    const depth = depths[i]!;
    if (depth < 0) return void out.push(p);
    const key = keyOf(p, depth);
    const replacement = replaced.get(key);
    if (replacement) {
      for (const r of replacement) out.push(r);
      replaced.delete(key); // emitted once, where the array's first patch was
    }
  });
  return out;
}

function compactGroup(base: unknown, next: unknown, path: Array<string | number>, group: Patch[], all: readonly Patch[], from: number): StorePatch[] {
  let old: unknown = base;
  let now: unknown = next;
  for (let i = from; i < path.length; i++) {
    old = child(old, path[i]!);
    now = child(now, path[i]!);
  }
  // A patch above the array (its parent replaced) would be reordered against it: leave such changes alone.
  if (!Array.isArray(old) || !Array.isArray(now) || all.some((p) => isPrefix(p.path, path))) return group;
  let cap = 0;
  for (const p of group) cap += patchWeight(p, Infinity);
  const compact = compactForm(path, old, now, cap);
  if (compact) return compact;
  // Not smaller as a whole. If the array itself did not move (every patch is
  // inside one of its elements), arrays inside those elements may still be.
  const index = path.length;
  if (old.length !== now.length || group.some((p) => p.path.length <= index + 1)) return group;
  const byElement = new Map<string | number, Patch[]>();
  for (const p of group) {
    const key = p.path[index]!;
    let list = byElement.get(key);
    if (!list) byElement.set(key, (list = []));
    list.push(p);
  }
  const out: StorePatch[] = [];
  for (const [key, list] of byElement) {
    const element = Number(key);
    for (const p of compactArrayPatches((old as Container[])[element], (now as Container[])[element], list, index + 1)) out.push(p);
  }
  return out;
}
