// Applies the server's patches to the client's replica of a room's stores.
// Any string is a key: a player may be named `__proto__` or `constructor`,
// and immer's applyPatches refuses such paths (to protect drafts from
// prototype pollution) or turns them into prototype changes. This applier
// only ever writes own properties, copying each object or array on the way
// at most once per batch, so earlier states stay untouched (structural
// sharing, as with immer).

export interface WirePatch {
  /** `trim`: remove the first `value` items of the array at `path` (a bounded log moving on). */
  op: 'add' | 'replace' | 'remove' | 'trim';
  path: ReadonlyArray<string | number>;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

/** Sets an own property, also for keys like "__proto__" (plain assignment would change the prototype). */
export function setOwn(target: Container, key: string | number, value: unknown): void {
  if (Array.isArray(target)) target[Number(key)] = value;
  // Only "__proto__" is an accessor on Object.prototype; any other key assigned is an own data property (and the object stays fast: a join's 1,000 rows were 1,000 defineProperty calls).
  else if (key !== '__proto__' && Object.getPrototypeOf(target) === Object.prototype) target[key as string] = value;
  else Object.defineProperty(target, String(key), { value, writable: true, enumerable: true, configurable: true });
}

function getOwn(target: Container, key: string | number): unknown {
  return Object.hasOwn(target, key) ? (target as Record<string, unknown>)[key as string] : undefined;
}

function copyOf(value: Container): Container {
  if (Array.isArray(value)) return value.slice();
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setOwn(copy, key, value[key]);
  return copy;
}

/** `base` with `patches` applied; `base` itself is never changed. */
export function applyWirePatches(base: unknown, patches: readonly WirePatch[]): unknown {
  const fresh = new WeakSet<object>();
  const writable = (value: unknown): Container => {
    const container = (value !== null && typeof value === 'object' ? value : {}) as Container;
    if (fresh.has(container)) return container;
    const copy = copyOf(container);
    fresh.add(copy);
    return copy;
  };
  let root: unknown = base;
  for (const patch of patches) {
    if (patch.path.length === 0) {
      root = patch.op === 'trim' ? trimFront(root, patch, fresh) : patch.op === 'remove' ? undefined : patch.value;
      continue;
    }
    root = writable(root);
    let parent = root as Container;
    for (let i = 0; i < patch.path.length - 1; i++) {
      const key = patch.path[i]!;
      const child = writable(getOwn(parent, key));
      setOwn(parent, key, child);
      parent = child;
    }
    const key = patch.path[patch.path.length - 1]!;
    if (patch.op === 'trim') setOwn(parent, key, trimFront(getOwn(parent, key), patch, fresh));
    else if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      if (patch.op === 'add') parent.splice(index, 0, patch.value);
      else if (patch.op === 'replace') parent[index] = patch.value;
      else parent.splice(index, 1);
    } else if (patch.op === 'remove') delete parent[String(key)];
    else setOwn(parent, key, patch.value);
  }
  return root;
}

/**
 * `list` without its first `patch.value` items (a `trim`: a bounded log that
 * moved on). The copy is new, so later patches of the batch change it in place.
 */
function trimFront(list: unknown, patch: WirePatch, fresh: WeakSet<object>): unknown[] {
  const count = patch.value;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw new Error(`a trim patch at ${JSON.stringify(patch.path)} needs a count of items (an integer of 0 or more), got ${JSON.stringify(count)}`);
  if (!Array.isArray(list)) throw new Error(`a trim patch names ${JSON.stringify(patch.path)}, which is not an array in the replica`);
  const kept = list.slice(count);
  fresh.add(kept);
  return kept;
}
