import { HOLD_LIMITS } from './held-pushes.ts';

// A cross-node push can reach Redis twice: its PUBLISH got no answer in time
// (Redis frozen or stalled, or the connection dropped before the answer), so
// the sender held it and sent it again once Redis answered, while Redis ran
// the first PUBLISH too when it woke. Every push crosses with its sender's
// mark (a random id per process, and its place in that process's order of
// sending); the receiver delivers a mark once. Memory is bounded: per sender,
// the latest marks (a second copy comes at most a hold's worth of pushes
// after the first), and a few dozen senders.

/** Marks kept per sender: twice the hold's count, so that a held copy still finds its first one. */
const PER_SENDER = 2 * HOLD_LIMITS.count;
/** Senders remembered (a node's processes over its restarts): the oldest is forgotten first. */
const SENDERS = 64;

export class SeenPushes {
  private readonly senders = new Map<string, Set<number>>();

  constructor(
    private readonly perSender = PER_SENDER,
    private readonly maxSenders = SENDERS,
  ) {}

  /** True the first time this sender's push `seq` is seen; false for a second copy. */
  first(sender: string, seq: number): boolean {
    let seen = this.senders.get(sender);
    if (!seen) {
      if (this.senders.size >= this.maxSenders) this.senders.delete(this.senders.keys().next().value!);
      this.senders.set(sender, (seen = new Set()));
    }
    if (seen.has(seq)) return false;
    seen.add(seq);
    if (seen.size > this.perSender) seen.delete(seen.values().next().value!);
    return true;
  }
}
