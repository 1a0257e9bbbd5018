import type { Patch } from 'immer';

// Lists that grow at one end. immer describes `chat.push(line); chat.shift()`
// as a `replace` of every index (each element moved down by one), so a
// bounded log of 50 lines cost 50 lines on the wire and in the journal for
// each line added. Each changed array is also described as its old value with
// k items dropped from the front and m appended, keeping the longest run of
// old items found at the start of the new value (compared by identity, which
// immer keeps for every element a recipe did not touch): one `trim` of k and
// m `add`s. Whichever description weighs less (roughly, in MessagePack bytes)
// is committed, so an edit in the middle, a sort or a `pop` stays immer's.

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
 * (elements compared with Object.is). Usually (objects, or values that do
 * not repeat) the first place `now[0]` is found in `old` gives it at once;
 * otherwise KMP's failure function over `now ++ [separator] ++ old`, still
 * O(|old| + |now|) whatever the elements.
 */
export function overlap(old: readonly unknown[], now: readonly unknown[]): number {
  if (now.length === 0 || old.length === 0) return 0;
  const first = now[0];
  const from = old.indexOf(first);
  if (from === -1 && first === first) return 0; // absent (NaN, which indexOf never finds, takes the long way)
  if (from !== -1 && old.length - from <= now.length) {
    let i = from;
    while (i < old.length && Object.is(old[i], now[i - from])) i++;
    if (i === old.length) return old.length - from;
  }
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
  return fail[total - 1]!;
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

/** The trim and adds turning `old` into `now`, and what they weigh. */
function compactForm(path: Array<string | number>, old: readonly unknown[], now: readonly unknown[]): { patches: StorePatch[]; weight: number } {
  const kept = overlap(old, now);
  const patches: StorePatch[] = [];
  let spent = 0;
  if (kept < old.length) {
    patches.push({ op: 'trim', path, value: old.length - kept });
    spent += 8 + 3 * path.length;
  }
  for (let i = kept; i < now.length; i++) {
    const add: Patch = { op: 'add', path: [...path, i], value: now[i] };
    spent += patchWeight(add, Infinity);
    patches.push(add);
  }
  return { patches, weight: spent };
}

/** Whether immer's `patches` weigh more than `than` (stops adding up once they do). */
function heavier(patches: readonly Patch[], than: number): boolean {
  let sum = 0;
  for (const p of patches) if ((sum += patchWeight(p, than - sum)) > than) return true;
  return false;
}

const isPrefix = (short: readonly unknown[], long: readonly unknown[]) => short.length < long.length && short.every((key, i) => key === long[i]);
const samePrefix = (a: readonly unknown[], b: readonly unknown[], length: number) => {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
};

interface Group {
  path: Array<string | number>;
  patches: Patch[];
  emitted: boolean;
}

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
  // Each changed array's patches, in order of first appearance. Arrays are
  // told apart by path (the same frozen array may sit at two paths).
  const groups: Group[] = [];
  const groupOf: Array<Group | undefined> = [];
  let last: Group | undefined;
  patches.forEach((p, i) => {
    const depth = depths[i]!;
    if (depth < 0) return;
    let group = last && last.path.length === depth && samePrefix(last.path, p.path, depth) ? last : groups.find((g) => g.path.length === depth && samePrefix(g.path, p.path, depth));
    if (!group) groups.push((group = { path: p.path.slice(0, depth), patches: [], emitted: false }));
    group.patches.push(p);
    groupOf[i] = last = group;
  });
  const replaced = new Map<Group, StorePatch[]>();
  for (const group of groups) replaced.set(group, compactGroup(base, next, group, patches, from));
  const out: StorePatch[] = [];
  patches.forEach((p, i) => {
    const group = groupOf[i];
    if (!group) return void out.push(p);
    if (group.emitted) return;
    group.emitted = true; // emitted once, where the array's first patch was
    for (const r of replaced.get(group)!) out.push(r);
  });
  return out;
}

function compactGroup(base: unknown, next: unknown, { path, patches: group }: Group, all: readonly Patch[], from: number): StorePatch[] {
  let old: unknown = base;
  let now: unknown = next;
  for (let i = from; i < path.length; i++) {
    old = child(old, path[i]!);
    now = child(now, path[i]!);
  }
  // A patch above the array (its parent replaced) would be reordered against it: leave such changes alone.
  if (!Array.isArray(old) || !Array.isArray(now) || all.some((p) => isPrefix(p.path, path))) return group;
  const compact = compactForm(path, old, now);
  if (heavier(group, compact.weight)) return compact.patches;
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
