// A set of small non-negative integers (key ids, row slots) as a bitset:
// the sync asks "was this member told this id?" for every row entering its
// view, at every tick, and a bit read costs a fraction of a Set's hash.

export class IdBits {
  private words = new Uint32Array(0);
  /** How many ids are in it. */
  size = 0;

  has(id: number): boolean {
    const word = id >>> 5;
    return word < this.words.length && ((this.words[word]! >>> (id & 31)) & 1) === 1;
  }

  add(id: number): this {
    const word = id >>> 5;
    if (word >= this.words.length) {
      const words = new Uint32Array(Math.max(word + 1, this.words.length * 2));
      words.set(this.words);
      this.words = words;
    }
    const bit = 1 << (id & 31);
    if ((this.words[word]! & bit) === 0) {
      this.words[word]! |= bit;
      this.size++;
    }
    return this;
  }

  /** Takes `id` out; whether it was in. */
  delete(id: number): boolean {
    if (!this.has(id)) return false;
    this.words[id >>> 5]! &= ~(1 << (id & 31));
    this.size--;
    return true;
  }

  clear(): void {
    this.words.fill(0);
    this.size = 0;
  }

  /** Words of 32 ids each, for a reader that walks them (id = 32 * word + bit). */
  wordCount(): number {
    return this.words.length;
  }

  word(index: number): number {
    return this.words[index]!;
  }

  /** The ids, ascending. */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let w = 0; w < this.words.length; w++) {
      for (let word = this.words[w]!; word !== 0; ) {
        const low = word & -word;
        yield (w << 5) + 31 - Math.clz32(low);
        word ^= low;
      }
    }
  }
}
