import type { NearIndex } from './sync-near.ts';

/**
 * The rows of a table a member's replica holds: a Set of ids, as for any
 * per-member view, with a bitset by slot of one NearIndex kept beside it
 * while the member is seen through a radius. Every change goes through
 * add, delete and clear, so the two never disagree.
 */
export class KnownRows extends Set<string> {
  private index: NearIndex | undefined;
  private bits = new Uint32Array(0);
  /** Slots that may be known: the last look's rows within reach (a superset of the known ones), `lastCount` of them. */
  private lastFound: Int32Array<ArrayBuffer> = new Int32Array(0);
  private lastCount = 0;

  static from(ids: Iterable<string>): KnownRows {
    const known = new KnownRows();
    for (const id of ids) known.add(id);
    return known;
  }

  override add(id: string): this {
    super.add(id);
    if (!this.index) return this;
    const slot = this.index.slot(id);
    if (this.hasSlot(slot)) return this;
    this.setBit(slot);
    // A row added outside a radius pass (seen through a filter, before the view switched back) must be looked at by the next one.
    if (this.lastCount === this.lastFound.length) this.lastFound = grown(this.lastFound, this.lastCount + 1);
    this.lastFound[this.lastCount++] = slot;
    return this;
  }

  override delete(id: string): boolean {
    const had = super.delete(id);
    const slot = had && this.index ? this.index.slotIfAny(id) : undefined;
    if (slot !== undefined && slot >>> 5 < this.bits.length) this.bits[slot >>> 5]! &= ~(1 << (slot & 31));
    return had;
  }

  override clear(): void {
    super.clear();
    this.bits.fill(0);
    this.lastCount = 0;
  }

  hasSlot(slot: number): boolean {
    const word = slot >>> 5;
    return word < this.bits.length && ((this.bits[word]! >>> (slot & 31)) & 1) === 1;
  }

  private setBit(slot: number): void {
    const word = slot >>> 5;
    if (word >= this.bits.length) {
      const bits = new Uint32Array(Math.max(word + 1, this.bits.length * 2));
      bits.set(this.bits);
      this.bits = bits;
    }
    this.bits[word]! |= 1 << (slot & 31);
  }

  /** Keeps the bitset by `index`'s slots (rebuilt from the ids when the index is new to it). */
  attach(index: NearIndex): void {
    if (this.index === index) return;
    this.index = index;
    this.bits = new Uint32Array(0);
    this.lastFound = new Int32Array(this.size);
    this.lastCount = 0;
    for (const id of this) {
      const slot = index.slot(id);
      this.setBit(slot);
      this.lastFound[this.lastCount++] = slot;
    }
  }

  /** Has `share` remove the known rows that `index`'s last look did not find, then remembers what it found. */
  keepFound(index: NearIndex, share: { leave(id: string): void }): void {
    const last = this.lastFound;
    for (let i = 0; i < this.lastCount; i++) {
      const slot = last[i]!;
      if (this.hasSlot(slot) && !index.within(slot)) share.leave(index.ids[slot]!);
    }
    if (this.lastFound.length < index.foundCount) this.lastFound = new Int32Array(index.found.length);
    this.lastFound.set(index.found.subarray(0, index.foundCount));
    this.lastCount = index.foundCount;
  }
}

/** `list` with room for `size` entries at least. */
export function grown(list: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(Math.max(size, list.length * 2));
  next.set(list);
  return next;
}
