import { createHash, randomBytes } from 'node:crypto';
import { Table } from '../store/table.ts';
import type { EncodedOnce } from './codec.ts';
import type { Member } from './rooms.ts';
import { hostClearTimeout, wallNow } from '../host-globals.ts';

// A session is a player, which outlives its connection: on disconnect it is
// kept for a grace period, and a client that comes back with the resume
// token it was given gets the same player back, rooms and all.
//
// Sessions are data: each one is a row of the host's `$sessions` table,
// written in the same transaction as the session hook that logic hears, so
// it is persisted with the stores. After a crash or a stop, the rows say who
// was in the world; the gateway treats them as cut connections (drop now,
// leave after the grace), and their resume tokens still work within it.

export const SESSIONS_STORE = '$sessions';

export interface SessionRow {
  /** sha256 of the resume token: the data folder holds no usable token. */
  tokenHash: string;
  rooms: string[];
  /** Whether logic last heard join/resume (true) or drop (false). */
  online: boolean;
  joinedAt: number;
  /**
   * When the connection was cut (ms since the epoch), while it waits for a
   * resume: a restart gives only what is left of the grace, so restarting
   * cannot postpone `leave` forever. After a crash the moment is unknown: the
   * restart that finds none records its own time, and later restarts keep it.
   */
  droppedAt?: number;
}

export interface Link {
  deliver(message: EncodedOnce, snapshot?: boolean): boolean;
  /** Bytes queued for the client, not yet read. */
  queued(): number;
  close(code: number, reason: string): void;
}

export class Session implements Member {
  link: Link | null;
  /** The plain resume token, known only to the process that issued it. */
  token: string;
  tokenHash: string;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  readonly joinedAt: number;

  constructor(
    readonly player: string,
    link: Link | null,
    restored?: SessionRow,
  ) {
    this.link = link;
    this.token = restored ? '' : newToken();
    this.tokenHash = restored ? restored.tokenHash : hashToken(this.token);
    this.joinedAt = restored ? restored.joinedAt : wallNow();
  }

  deliver(message: EncodedOnce, snapshot = false): boolean {
    return this.link ? this.link.deliver(message, snapshot) : false;
  }

  queued(): number {
    return this.link?.queued() ?? 0;
  }
}

function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export function sessionTable(): Table<SessionRow> {
  return new Table<SessionRow>(SESSIONS_STORE);
}

export class Sessions {
  private readonly byPlayer = new Map<string, Session>();
  private readonly byTokenHash = new Map<string, Session>();

  constructor(private readonly table: Table<SessionRow> = sessionTable()) {}

  get(player: string): Session | undefined {
    return this.byPlayer.get(player);
  }

  byResumeToken(token: unknown): Session | undefined {
    return typeof token === 'string' && token.length > 0 ? this.byTokenHash.get(hashToken(token)) : undefined;
  }

  /** A new player: indexed, and its row staged in the caller's transaction (the join hook's). */
  add(session: Session): void {
    this.index(session);
    this.table.set(session.player, { tokenHash: session.tokenHash, rooms: [], online: true, joinedAt: session.joinedAt });
  }

  private index(session: Session): void {
    this.byPlayer.set(session.player, session);
    this.byTokenHash.set(session.tokenHash, session);
  }

  /** Undoes `add` when the join it belonged to failed (the row went with the transaction). */
  forget(session: Session): void {
    if (this.byPlayer.get(session.player) === session) this.byPlayer.delete(session.player);
    this.byTokenHash.delete(session.tokenHash);
  }

  /** A fresh token on every resume: an old token cannot be used twice. */
  rotate(session: Session): void {
    this.byTokenHash.delete(session.tokenHash);
    session.token = newToken();
    session.tokenHash = hashToken(session.token);
    this.byTokenHash.set(session.tokenHash, session);
    this.write(session.player, (row) => void (row.tokenHash = session.tokenHash));
  }

  /** Online again (no drop time), or cut at `droppedAt`. */
  setOnline(session: Session, online: boolean, droppedAt = wallNow()): void {
    this.write(session.player, (row) => {
      row.online = online;
      if (online) delete row.droppedAt;
      else row.droppedAt = droppedAt;
    });
  }

  setRooms(player: string, rooms: string[]): void {
    this.write(player, (row) => void (row.rooms = rooms));
  }

  remove(session: Session): void {
    hostClearTimeout(session.graceTimer);
    this.forget(session);
    if (this.table.has(session.player)) this.table.delete(session.player);
  }

  private write(player: string, recipe: (row: SessionRow) => void): void {
    if (this.table.has(player)) this.table.update(player, recipe);
  }

  /** The sessions a previous run left (after recovery): offline, waiting for their players. */
  restore(): Array<{ session: Session; row: SessionRow }> {
    const out: Array<{ session: Session; row: SessionRow }> = [];
    for (const [player, row] of this.table.committedEntries()) {
      if (this.byPlayer.has(player)) continue;
      const session = new Session(player, null, row);
      this.index(session);
      out.push({ session, row });
    }
    return out;
  }

  all(): IterableIterator<Session> {
    return this.byPlayer.values();
  }

  get size(): number {
    return this.byPlayer.size;
  }

  connected(): number {
    let n = 0;
    for (const s of this.byPlayer.values()) if (s.link) n++;
    return n;
  }
}
