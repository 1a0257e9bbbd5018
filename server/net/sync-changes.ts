import type { StorePatch } from '../store/array-delta.ts';

// A tick's changes to the stores rooms watch, coalesced: a field written
// five times in a tick is sent once (its last value), and a write to a path
// makes every earlier write under it moot. Arrays are the exception: their
// changes (inserts, removals by index, trims) shift what later indices mean,
// so they are kept in order; a write to the array itself, or above it, still
// makes them moot. Ops keep the number of the commit that made them, so that
// a member who joined mid-tick gets only what its snapshot lacks.

export type OpKind = 'set' | 'remove' | 'insert' | 'trim';

export interface SyncOp {
  store: string;
  kind: OpKind;
  /** Inside the store (a table's paths start with the row id). */
  path: ReadonlyArray<string | number>;
  value?: unknown;
  /** The commit that made this op (the last one, for a coalesced write). */
  seq: number;
  dead?: boolean;
  /** Its store's, row's and field's key ids in the dictionary `idsOf` (sync-encoding.ts keeps them, so that each room looks them up once; numbers, not an array: one less object per op). */
  storeId?: number;
  rowId?: number;
  fieldId?: number;
  idsOf?: object;
  /** Its tokens' bytes in a `$delta`, for an op written into many members' frames (sync-encoding.ts, wholeRowOp). */
  tokens?: Buffer;
}

/**
 * An op with every field it will ever have, so that all ops share one shape:
 * the encoder adds the key ids to each op of a tick, and adding fields to an
 * object made without them gives it a new shape each time (the encoder then
 * ran about a quarter slower).
 */
export function syncOp(store: string, kind: OpKind, path: ReadonlyArray<string | number>, value: unknown, seq: number): SyncOp {
  return { store, kind, path, value, seq, dead: false, storeId: -1, rowId: -1, fieldId: -1, idsOf: undefined, tokens: undefined };
}

interface Node {
  op?: SyncOp;
  /** Changes of the array at this node, in order. */
  ordered?: SyncOp[];
  children?: Map<string | number, Node>;
}

function kill(node: Node): void {
  if (node.op) node.op.dead = true;
  // (Most nodes are a field's, with neither: no empty array made to loop over.)
  if (node.ordered) for (const op of node.ordered) op.dead = true;
  if (node.children) for (const child of node.children.values()) kill(child);
  node.op = undefined;
  node.ordered = undefined;
  node.children = undefined;
}

/** The index of the first array index on `path`, or -1. */
function firstNumber(path: ReadonlyArray<string | number>): number {
  for (let i = 0; i < path.length; i++) if (typeof path[i] === 'number') return i;
  return -1;
}

export function opKind(patch: StorePatch): OpKind {
  if (patch.op === 'trim') return 'trim';
  if (patch.op === 'remove') return 'remove';
  const last = patch.path[patch.path.length - 1];
  // An `add` at an array index inserts (shifting what follows); anywhere else add and replace both set.
  if (typeof last === 'number') return patch.op === 'add' ? 'insert' : 'set';
  // A key set to undefined is sent as removed: JSON has no undefined (a set would reach JSON members as null), and a
  // missing key reads as undefined in every encoding, as in a $state (plain data has no undefined in arrays).
  return patch.value === undefined && last !== undefined ? 'remove' : 'set';
}

export class TickChanges {
  private roots = new Map<string, Node>();
  private ops: SyncOp[] = [];

  get empty(): boolean {
    return this.ops.length === 0;
  }

  add(store: string, patch: StorePatch, seq: number): void {
    const kind = opKind(patch);
    const op = syncOp(store, kind, patch.path, kind === 'remove' ? undefined : patch.value, seq);
    const path = patch.path;
    const firstIndex = kind === 'trim' ? path.length : firstNumber(path);
    let node: Node | undefined = this.roots.get(store);
    if (!node) this.roots.set(store, (node = {}));
    const depth = firstIndex === -1 ? path.length : firstIndex;
    for (let i = 0; i < depth; i++) {
      const children: Map<string | number, Node> = (node.children ??= new Map());
      let child: Node | undefined = children.get(path[i]!);
      if (!child) children.set(path[i]!, (child = {}));
      node = child;
    }
    if (firstIndex === -1) {
      kill(node);
      node.op = op;
    } else (node.ordered ??= []).push(op);
    this.ops.push(op);
  }

  /** The tick's live ops, in the order they were made; starts a new tick. */
  drain(): SyncOp[] {
    const live = this.ops.filter((op) => !op.dead);
    this.ops = [];
    this.roots = new Map();
    return live;
  }
}
