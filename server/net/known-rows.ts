import { IdBits } from './id-bits.ts';
import type { NearIndex } from './sync-near.ts';

/** What the sync asks of the rows a member's replica holds (a Set of ids, or KnownRows). */
export interface KnownIds extends Iterable<string> {
  readonly size: number;
  has(id: string): boolean;
  add(id: string): unknown;
  delete(id: string): boolean;
}

/**
 * The rows of a table a member's replica holds while it is seen through a
 * radius: a bit per slot of a NearIndex. A radius pass asks and changes it
 * by slot (a bit, where a Set of ids hashed a string for every row entering
 * or leaving at every tick); by id it answers like a Set.
 */
export class KnownRows implements KnownIds {
  private bits = new IdBits();
  /** Slots that may be known: the last look's rows within reach (a superset of the known ones), `lastCount` of them. */
  private lastFound: Int32Array<ArrayBuffer> = new Int32Array(0);
  private lastCount = 0;
  /** The rows that the last `keepFound` took out for leaving reach: `leavingCount` slots (reused: read before the next call). */
  leaving: Int32Array<ArrayBuffer> = new Int32Array(16);
  leavingCount = 0;

  constructor(private index: NearIndex) {}

  static from(ids: Iterable<string>, index: NearIndex): KnownRows {
    const known = new KnownRows(index);
    for (const id of ids) known.add(id);
    return known;
  }

  get size(): number {
    return this.bits.size;
  }

  has(id: string): boolean {
    const slot = this.index.slotIfAny(id);
    return slot !== undefined && this.bits.has(slot);
  }

  add(id: string): this {
    const slot = this.index.slot(id);
    if (this.bits.has(slot)) return this;
    this.bits.add(slot);
    // A row added outside a radius pass (seen through a filter, before the view switched back) must be looked at by the next one.
    if (this.lastCount === this.lastFound.length) this.lastFound = grown(this.lastFound, this.lastCount + 1);
    this.lastFound[this.lastCount++] = slot;
    return this;
  }

  delete(id: string): boolean {
    const slot = this.index.slotIfAny(id);
    return slot !== undefined && this.bits.delete(slot);
  }

  clear(): void {
    this.bits.clear();
    this.lastCount = 0;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (const slot of this.bits) yield this.index.ids[slot]!;
  }

  hasSlot(slot: number): boolean {
    return this.bits.has(slot);
  }

  /** Moves to `index`'s slots (the same ids, found again in a new index). */
  attach(index: NearIndex): void {
    if (this.index === index) return;
    const ids = [...this];
    this.index = index;
    this.bits = new IdBits();
    this.lastFound = new Int32Array(ids.length);
    this.lastCount = 0;
    for (const id of ids) this.add(id);
  }

  /** Takes out the known rows that `index`'s last look did not find, into `leaving`, then remembers what it found. */
  keepFound(index: NearIndex): void {
    const last = this.lastFound;
    let n = 0;
    for (let i = 0; i < this.lastCount; i++) {
      const slot = last[i]!;
      if (!this.bits.has(slot) || index.within(slot)) continue;
      this.bits.delete(slot);
      if (n === this.leaving.length) this.leaving = grown(this.leaving, n + 1);
      this.leaving[n++] = slot;
    }
    this.leavingCount = n;
    const { found, foundCount } = index;
    if (this.lastFound.length < foundCount) this.lastFound = new Int32Array(found.length);
    // (A loop: a subarray to copy from is an object per member and tick.)
    const into = this.lastFound;
    for (let i = 0; i < foundCount; i++) into[i] = found[i]!;
    this.lastCount = foundCount;
  }

  /** `add` of a row the last look found, by its slot. */
  addAt(slot: number): void {
    this.bits.add(slot);
  }
}

/** `list` with room for `size` entries at least. */
export function grown(list: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(Math.max(size, list.length * 2));
  next.set(list);
  return next;
}
