import { pack } from 'msgpackr';

// Cross-node pushes held while Redis is down, oldest first, to be delivered
// once it is back. Bounded three ways, so that a long outage costs memory in
// proportion to its limits, not to its length: by count, by bytes (the
// payload as it would cross), and by age. Over a bound, the oldest go first;
// whatever goes without being delivered is handed back to be counted lost.

/** A push for a player ('p') or for every member of a room ('r'); `hops`: times it was passed on already. */
export type Item = [kind: 'p' | 'r', target: string, event: string, payload: unknown, hops: number];

export interface Held {
  item: Item;
  /** The node it goes to, when known as it was held (a room's holder, a player's cached node); else looked up at delivery. */
  node: string | undefined;
  /** The node it was last sent to that did not take it (nobody listening there): a player's push then asks presence again. */
  triedAt?: string;
  /** When it was held (ms): older than the age bound, it is lost. */
  at: number;
  /** Order of sending on this node: a push held late (its PUBLISH failed as Redis went down) still takes its place. */
  seq: number;
  bytes: number;
}

export interface HoldLimits {
  count: number;
  bytes: number;
  ageMs: number;
}

/** REBIND_FLEET_HOLD_MS's bounds: a hold shorter than a few retries cannot outlast a restart; a longer one only keeps pushes nobody waits for. */
export const HOLD_MS_RANGE = { min: 1000, max: 600_000, fallback: 30_000 } as const;

export const HOLD_LIMITS: HoldLimits = { count: 10_000, bytes: 16 * 1024 * 1024, ageMs: HOLD_MS_RANGE.fallback };

/**
 * The hold's limits with REBIND_FLEET_HOLD_MS (milliseconds) as its age
 * bound. A value that is not a whole number within HOLD_MS_RANGE is not
 * guessed at: the default is used and `problem` says why, for the node to log.
 */
export function holdLimitsFrom(text: string | undefined): { limits: HoldLimits; problem?: string } {
  if (text === undefined || text.trim() === '') return { limits: HOLD_LIMITS };
  // Plain decimal digits only: Number() also reads "0x3e8", "1e3" and " 1000 " as numbers nobody meant to write here.
  const ms = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  const { min, max, fallback } = HOLD_MS_RANGE;
  if (ms >= min && ms <= max) return { limits: { ...HOLD_LIMITS, ageMs: ms } };
  return { limits: HOLD_LIMITS, problem: `REBIND_FLEET_HOLD_MS must be a whole number of milliseconds in plain digits, from ${min} to ${max}, got "${text}": the default ${fallback} ms is used` };
}

export class HeldPushes {
  private items: Held[] = [];
  private bytes = 0;
  /** Pushes held per target ('p:<player>', 'r:<room>'): a new push for one of these waits behind them (order per target). */
  private readonly targets = new Map<string, number>();

  constructor(readonly limits: HoldLimits = HOLD_LIMITS) {}

  get size(): number {
    return this.items.length;
  }

  /** Whether pushes for this item's target are held (a new one must queue behind them). */
  holds(item: Item): boolean {
    // Asked for every cross-node push: nothing held (nearly always) costs no key string.
    return this.targets.size > 0 && this.targets.has(targetOf(item));
  }

  /** Holds a push in its place by `seq`; returns how many of the oldest had to go to stay within the count and byte bounds. */
  hold(item: Item, node: string | undefined, now: number, seq: number): number {
    const bytes = pack(item).length;
    let at = this.items.length;
    while (at > 0 && this.items[at - 1]!.seq > seq) at--;
    this.items.splice(at, 0, { item, node, at: now, seq, bytes });
    this.bytes += bytes;
    const key = targetOf(item);
    this.targets.set(key, (this.targets.get(key) ?? 0) + 1);
    let dropped = 0;
    while (this.items.length > 0 && (this.items.length > this.limits.count || this.bytes > this.limits.bytes)) {
      this.forget(this.items.shift()!);
      dropped++;
    }
    return dropped;
  }

  /** Drops the oldest while they are older than the age bound; returns how many. */
  expire(now: number): number {
    let dropped = 0;
    while (this.items.length > 0 && now - this.items[0]!.at > this.limits.ageMs) {
      this.forget(this.items.shift()!);
      dropped++;
    }
    return dropped;
  }

  /** What is held, oldest first. It stays held (its targets still wait) until settled. */
  snapshot(): Held[] {
    return [...this.items];
  }

  /** These were delivered; returns how many of them were still held (one dropped meanwhile was counted lost already). */
  settle(delivered: readonly Held[]): number {
    if (delivered.length === 0) return 0;
    const gone = new Set(delivered);
    const before = this.items.length;
    this.items = this.items.filter((h) => !gone.has(h) || (this.forget(h), false));
    return before - this.items.length;
  }

  /** Its bytes and its target's count, once it has left the list. */
  private forget(h: Held): void {
    this.bytes -= h.bytes;
    const key = targetOf(h.item);
    const n = (this.targets.get(key) ?? 1) - 1;
    if (n > 0) this.targets.set(key, n);
    else this.targets.delete(key);
  }
}

function targetOf(item: Item): string {
  return `${item[0]}:${item[1]}`;
}
