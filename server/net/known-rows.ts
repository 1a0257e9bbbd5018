import { IdBits } from './id-bits.ts';
import type { NearIndex } from './sync-near.ts';

/**
 * The rows of a table a member's replica holds: a Set of ids, as for any
 * per-member view, with a bitset by slot of one NearIndex kept beside it
 * while the member is seen through a radius. Every change goes through
 * add, delete and clear, so the two never disagree.
 */
export class KnownRows extends Set<string> {
  private index: NearIndex | undefined;
  private bits = new IdBits();
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
    this.bits.add(slot);
    // A row added outside a radius pass (seen through a filter, before the view switched back) must be looked at by the next one.
    if (this.lastCount === this.lastFound.length) this.lastFound = grown(this.lastFound, this.lastCount + 1);
    this.lastFound[this.lastCount++] = slot;
    return this;
  }

  override delete(id: string): boolean {
    const had = super.delete(id);
    const slot = had && this.index ? this.index.slotIfAny(id) : undefined;
    if (slot !== undefined) this.bits.delete(slot);
    return had;
  }

  override clear(): void {
    super.clear();
    this.bits.clear();
    this.lastCount = 0;
  }

  hasSlot(slot: number): boolean {
    return this.bits.has(slot);
  }

  /** Keeps the bitset by `index`'s slots (rebuilt from the ids when the index is new to it). */
  attach(index: NearIndex): void {
    if (this.index === index) return;
    this.index = index;
    this.bits = new IdBits();
    this.lastFound = new Int32Array(this.size);
    this.lastCount = 0;
    for (const id of this) {
      const slot = index.slot(id);
      this.bits.add(slot);
      this.lastFound[this.lastCount++] = slot;
    }
  }

  /** The rows that the last `keepFound` took out for leaving reach: `leavingCount` slots (reused: read before the next call). */
  leaving: Int32Array<ArrayBuffer> = new Int32Array(16);
  leavingCount = 0;

  /** Takes out the known rows that `index`'s last look did not find, into `leaving`, then remembers what it found. */
  keepFound(index: NearIndex): void {
    const last = this.lastFound;
    let n = 0;
    for (let i = 0; i < this.lastCount; i++) {
      const slot = last[i]!;
      if (!this.hasSlot(slot) || index.within(slot)) continue;
      this.deleteAt(index.ids[slot]!, slot);
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

  /** `add` of a row whose slot in the attached index is known (a radius pass's row entering). */
  addAt(id: string, slot: number): void {
    super.add(id);
    this.bits.add(slot);
  }

  private deleteAt(id: string, slot: number): void {
    super.delete(id);
    this.bits.delete(slot);
  }
}

/** `list` with room for `size` entries at least. */
export function grown(list: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(Math.max(size, list.length * 2));
  next.set(list);
  return next;
}
