// A handler that fails on every call under load would write a log line with
// a stack per call: thousands a second, on the event loop every player
// shares. Each kind of failure (handler, version, where it threw) is logged
// the first time, then at most once per window, saying how many like it were
// left out in between. Counts and metrics still see every error.

const WINDOW_MS = 5000;
/** Kinds remembered at once; the oldest is forgotten first (it will be logged again if it comes back). */
const MAX_KINDS = 1000;
/** The longest kind kept as a key: a kind is a place, but one made of a message must not keep megabytes. */
const MAX_KIND_LENGTH = 512;

export class ErrorThrottle {
  private readonly kinds = new Map<string, { loggedAt: number; leftOut: number }>();

  constructor(private readonly windowMs = WINDOW_MS) {}

  /** Whether to log this failure now, and how many of its kind were left out since the last line. */
  admit(whole: string, now = performance.now()): { log: boolean; leftOut: number } {
    const kind = whole.length > MAX_KIND_LENGTH ? whole.slice(0, MAX_KIND_LENGTH) : whole;
    const seen = this.kinds.get(kind);
    if (seen && now - seen.loggedAt < this.windowMs) {
      seen.leftOut++;
      return { log: false, leftOut: seen.leftOut };
    }
    const leftOut = seen?.leftOut ?? 0;
    this.kinds.delete(kind);
    this.kinds.set(kind, { loggedAt: now, leftOut: 0 });
    if (this.kinds.size > MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
    return { log: true, leftOut };
  }
}

/** What a log line admitted after others of its kind were left out adds to its message ('' when none were). */
export function leftOutNote(leftOut: number): string {
  return leftOut > 0 ? ` (and ${leftOut} more like it since the last line)` : '';
}
