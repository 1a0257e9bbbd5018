import { types } from 'node:util';
import { rebindError } from '../errors.ts';
import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import { transact } from '../store/transaction.ts';
import { CLOSE, type Connection } from './connection.ts';
import type { NetFleet } from './fleet-hooks.ts';
import type { RoomSync } from './rooms.ts';
import { Session, type Sessions } from './sessions.ts';
import { hostClearTimeout, hostSetTimeout, wallNow } from '../host-globals.ts';

// How a connection becomes a player and stops being one: $auth, $resume,
// $leave, a cut connection and its grace period, and a restart. Logic hears
// each step through the session module's hooks (auth, join, resume, drop,
// leave), called by name.

type Hook = 'join' | 'leave' | 'drop' | 'resume';

export class SessionLifecycle {
  private readonly log = createLogger('net');

  constructor(
    private readonly host: Host,
    private readonly sessions: Sessions,
    private readonly rooms: RoomSync,
    readonly graceMs: number,
    readonly sessionModule: string,
    private readonly fleet: () => NetFleet | undefined = () => undefined,
  ) {}

  private handler(name: 'auth' | Hook): string {
    return `${this.sessionModule}.${name}`;
  }

  /** Runs a hook whose failure must not stop what happens to the connection; logs it. */
  private hook(name: Hook, player: string): void {
    const handler = this.handler(name);
    if (!this.host.bindings.resolve(handler)) return;
    try {
      const result = this.host.dispatcher.invoke(handler, null, player, 'system');
      if (types.isPromise(result)) result.catch((err: unknown) => this.log.error(`${handler} failed: ${(err as Error).message}`));
    } catch (err) {
      this.log.error(`${handler} failed: ${(err as Error).message}`);
    }
  }

  auth(conn: Connection, payload: unknown): unknown {
    if (conn.session) throw rebindError('BAD_REQUEST', `already joined as "${conn.session.player}"`);
    const handler = this.handler('auth');
    if (!this.host.bindings.resolve(handler)) {
      throw rebindError('UNKNOWN_HANDLER', `no auth hook: export a handler "auth" from logic/${this.sessionModule}.ts`);
    }
    const result = this.host.dispatcher.invoke(handler, payload, null, 'system');
    const admit = (value: unknown) => {
      const player = typeof value === 'string' ? value : (value as { player?: unknown } | null)?.player;
      if (typeof player !== 'string' || player.length === 0) throw rebindError('AUTH_FAILED', `${handler} must return a player id (a non-empty string)`);
      // On a fleet a player this node does not have may be on another node: it goes there (and takes that session over).
      // So may one whose session here is cut: another node may have adopted it a moment ago (its 'player.moved' still on the way).
      const fleet = this.sessions.get(player)?.link ? undefined : this.fleet();
      return fleet ? fleet.mayJoinHere(player).then(() => this.admit(conn, player)) : this.admit(conn, player);
    };
    return types.isPromise(result) ? result.then(admit) : admit(result);
  }

  private admit(conn: Connection, player: string): unknown {
    if (conn.session) throw rebindError('BAD_REQUEST', `already joined as "${conn.session.player}"`);
    // An async auth can finish after its connection went: no player (and no ghost) for it.
    if (!conn.open) throw rebindError('NOT_JOINED', 'the connection closed before the join finished');
    const existing = this.sessions.get(player);
    if (existing) {
      // The same player again (another tab, a client that lost its token): take over the session.
      this.attach(existing, conn);
      return this.welcome(existing, true);
    }
    const session = new Session(player, conn);
    conn.session = session;
    // The session's row and what `join` writes commit together, or neither does.
    let joined: unknown;
    try {
      joined = transact(() => {
        this.sessions.add(session);
        const handler = this.handler('join');
        return this.host.bindings.resolve(handler) ? this.host.dispatcher.invoke(handler, null, player, 'system') : undefined;
      });
    } catch (err) {
      this.refuse(conn, session);
      throw err;
    }
    if (!types.isPromise(joined)) return this.welcome(session, false);
    return joined.then(
      () => this.welcome(session, false),
      (err: unknown) => {
        // The synchronous part of join committed: logic hears leave, so its state stays whole.
        if (this.sessions.get(player) === session) this.end(session);
        if (conn.session === session) this.refuse(conn, session);
        throw err;
      },
    );
  }

  private refuse(conn: Connection, session: Session): void {
    this.sessions.forget(session);
    conn.session = undefined;
    conn.expectJoin(false);
  }

  private welcome(session: Session, resumed: boolean): unknown {
    this.fleet()?.admitted(session.player, session.tokenHash);
    return { player: session.player, token: session.token, graceMs: this.graceMs, resumed };
  }

  resume(conn: Connection, payload: unknown): unknown {
    if (conn.session) throw rebindError('BAD_REQUEST', `already joined as "${conn.session.player}"`);
    const session = this.sessions.byResumeToken((payload as { token?: unknown } | null)?.token);
    const fleet = this.fleet();
    if (!session && fleet) return this.adopt(conn, fleet, payload);
    if (!session) throw rebindError('RESUME_FAILED', 'unknown or expired resume token: join again with $auth');
    this.attach(session, conn);
    return this.welcome(session, true);
  }

  /** A player of another node of the fleet (sent here, or whose node died), proven by its token: a session here, its join hook run. */
  private async adopt(conn: Connection, fleet: NetFleet, payload: unknown): Promise<unknown> {
    const { player, from } = await fleet.adoptable(payload);
    const welcome = await this.admit(conn, player);
    fleet.adopted(player, from);
    return welcome;
  }

  leave(conn: Connection): unknown {
    const session = conn.session;
    if (!session) throw rebindError('NOT_JOINED', 'not joined');
    conn.session = undefined;
    conn.expectJoin();
    this.end(session);
    return { left: session.player };
  }

  private attach(session: Session, conn: Connection): void {
    const old = session.link;
    if (old && old !== conn) {
      (old as Connection).session = undefined;
      old.close(CLOSE.replaced, 'replaced by a new connection for the same player');
    }
    hostClearTimeout(session.graceTimer);
    session.graceTimer = undefined;
    session.link = conn;
    conn.session = session;
    transact(() => {
      this.sessions.rotate(session);
      this.sessions.setOnline(session, true);
    });
    this.rooms.rejoin(session);
    this.hook('resume', session.player);
  }

  disconnected(conn: Connection): void {
    const session = conn.session;
    if (!session || session.link !== conn) return;
    session.link = null;
    this.sessions.setOnline(session, false);
    this.hook('drop', session.player);
    this.startGrace(session);
  }

  private startGrace(session: Session, ms = this.graceMs): void {
    hostClearTimeout(session.graceTimer);
    session.graceTimer = hostSetTimeout(() => this.end(session), ms);
  }

  /** The player is gone for good: logic hears `leave`, rooms forget them. */
  end(session: Session): void {
    this.sessions.remove(session);
    this.fleet()?.ended(session.player);
    this.hook('leave', session.player);
    this.rooms.leaveAll(session.player);
  }

  /**
   * After a restart: every session the last run left is a connection that was
   * cut. Logic hears `drop` now for those it still thought online, and
   * `leave` once the grace has passed since the cut (counted across
   * restarts: see SessionRow.droppedAt) unless the player comes back ($auth,
   * or $resume with the token it held).
   */
  restore(): number {
    const restored = this.sessions.restore();
    const now = wallNow();
    for (const { session, row } of restored) {
      for (const room of row.rooms) this.rooms.join(room, session);
      // A cut recorded by an earlier run keeps its time; one that was not (a crash while
      // online, a row from before drop times) is dated now.
      const droppedAt = typeof row.droppedAt === 'number' && row.droppedAt <= now ? row.droppedAt : now;
      if (row.online || row.droppedAt !== droppedAt) this.sessions.setOnline(session, false, droppedAt);
      if (row.online) this.hook('drop', session.player);
      // Only what is left of the grace: restarting again and again cannot keep a player in the world.
      this.startGrace(session, Math.max(0, this.graceMs - (now - droppedAt)));
    }
    return restored.length;
  }

  /** Records which rooms a player is in, so a restart can put them back. */
  roomsChanged(player: string): void {
    if (this.sessions.get(player)) this.sessions.setRooms(player, this.rooms.roomsOf(player));
  }
}
