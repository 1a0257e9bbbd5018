// The durable timers' due times, earliest first: a binary min-heap that also
// knows where each id sits, so that a cancelled timer leaves it at once
// (O(log n)) instead of waiting there until its time comes.

interface Entry {
  at: number;
  id: string;
}

export class TimerHeap {
  private readonly heap: Entry[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.heap.length;
  }

  peek(): Entry | undefined {
    return this.heap[0];
  }

  /** Adds `id` due at `at`, or moves it there if it is already in. */
  push(id: string, at: number): void {
    if (this.index.has(id)) this.remove(id);
    this.heap.push({ at, id });
    this.index.set(id, this.heap.length - 1);
    this.up(this.heap.length - 1);
  }

  pop(): Entry | undefined {
    const top = this.heap[0];
    if (top) this.removeAt(0);
    return top;
  }

  remove(id: string): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  clear(): void {
    this.heap.length = 0;
    this.index.clear();
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    this.index.delete(heap[i]!.id);
    const last = heap.pop()!;
    if (i === heap.length) return;
    heap[i] = last;
    this.index.set(last.id, i);
    this.down(this.up(i));
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    [heap[a], heap[b]] = [heap[b]!, heap[a]!];
    this.index.set(heap[a]!.id, a);
    this.index.set(heap[b]!.id, b);
  }

  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.heap[parent]!.at <= this.heap[i]!.at) break;
      this.swap(parent, i);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < heap.length && heap[l]!.at < heap[min]!.at) min = l;
      if (r < heap.length && heap[r]!.at < heap[min]!.at) min = r;
      if (min === i) return;
      this.swap(min, i);
      i = min;
    }
  }
}
