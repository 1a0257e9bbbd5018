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
    this.bits.add(this.index.slot(id));
    return this;
  }

  delete(id: string): boolean {
    const slot = this.index.slotIfAny(id);
    return slot !== undefined && this.bits.delete(slot);
  }

  clear(): void {
    this.bits.clear();
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
    for (const id of ids) this.add(id);
  }

  /** Takes out the known rows that `index`'s last look did not find, into `leaving`. */
  keepFound(index: NearIndex): void {
    const { bits } = this;
    let n = 0;
    for (let w = 0; w < bits.wordCount(); w++) {
      for (let word = bits.word(w); word !== 0; ) {
        const low = word & -word;
        word ^= low;
        const slot = (w << 5) + 31 - Math.clz32(low);
        if (index.within(slot)) continue;
        bits.delete(slot);
        if (n === this.leaving.length) this.leaving = grown(this.leaving, n + 1);
        this.leaving[n++] = slot;
      }
    }
    this.leavingCount = n;
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
