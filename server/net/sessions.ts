import { randomBytes } from 'node:crypto';
import type { EncodedOnce } from './codec.ts';
import type { Member } from './rooms.ts';

// A session is a player, which outlives its connection: on disconnect it is
// kept for a grace period, and a client that comes back with the resume
// token it was given gets the same player back, rooms and all.

export interface Link {
  deliver(message: EncodedOnce): boolean;
  close(code: number, reason: string): void;
}

export class Session implements Member {
  link: Link | null;
  token: string;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  readonly joinedAt = Date.now();

  constructor(
    readonly player: string,
    link: Link,
  ) {
    this.link = link;
    this.token = newToken();
  }

  deliver(message: EncodedOnce): boolean {
    return this.link ? this.link.deliver(message) : false;
  }
}

function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export class Sessions {
  private readonly byPlayer = new Map<string, Session>();
  private readonly byToken = new Map<string, Session>();

  get(player: string): Session | undefined {
    return this.byPlayer.get(player);
  }

  byResumeToken(token: unknown): Session | undefined {
    return typeof token === 'string' ? this.byToken.get(token) : undefined;
  }

  add(session: Session): void {
    this.byPlayer.set(session.player, session);
    this.byToken.set(session.token, session);
  }

  /** A fresh token on every resume: an old token cannot be used twice. */
  rotate(session: Session): void {
    this.byToken.delete(session.token);
    session.token = newToken();
    this.byToken.set(session.token, session);
  }

  remove(session: Session): void {
    clearTimeout(session.graceTimer);
    if (this.byPlayer.get(session.player) === session) this.byPlayer.delete(session.player);
    this.byToken.delete(session.token);
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
