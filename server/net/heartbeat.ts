import { hostClearInterval, hostSetImmediate, hostSetInterval, monoNow } from '../host-globals.ts';
// A player whose machine vanished (a pulled cable, a phone out of signal)
// sends no FIN: without a check its connection, and its player, would stay
// "online" for the quarter of an hour TCP takes to give up. Every interval
// each connection is pinged; one that has not answered the previous ping is
// cut, and its player dropped like any cut connection (then resumable within
// the grace). Browsers and the ws library answer pings by themselves.

export interface Pingable {
  /** Whether a pong came since the last ping. */
  answered: boolean;
  ping(): void;
  terminate(): void;
}

export class Heartbeat {
  private readonly timer: ReturnType<typeof setInterval>;
  private last = monoNow();

  constructor(
    private readonly intervalMs: number,
    private readonly connections: () => Iterable<Pingable>,
  ) {
    this.timer = hostSetInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  private beat(): void {
    const now = monoNow();
    // Timers run before I/O: judged right away, pongs that arrived during a stall of the
    // event loop would not have been read yet. So judge after the I/O phase
    // (setImmediate), and not at all in a round that comes late after a long stall.
    const judge = now - this.last < this.intervalMs * 1.5;
    this.last = now;
    hostSetImmediate(() => this.round(judge));
  }

  private round(judge: boolean): void {
    for (const conn of this.connections()) {
      if (judge && !conn.answered) {
        conn.terminate();
        continue;
      }
      conn.answered = false;
      conn.ping();
    }
  }

  stop(): void {
    hostClearInterval(this.timer);
  }
}
