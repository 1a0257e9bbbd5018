import { Packr } from 'msgpackr';
import { readFrame, RoomReplicas, SyncError } from './room-replicas.ts';
import type { ClientNameOf, KnownName, LooseName, MissingPayload, NotSystemName, PayloadArg, ReturnOf, SystemCalls, WrongPayload } from './handler-types.ts';
import { isRedirect, PendingRequests, type ErrorBody, type Redirect } from './requests.ts';
import { asClientError, RebindClientError, TRANSIENT } from './errors.ts';
import type { ClientOptions, SocketConstructor, SocketLike } from './options.ts';
import { detach, watchSilence } from './liveness.ts';

export type { CodeVersions } from './handler-types.ts';
export type { Redirect } from './requests.ts';
export { RebindClientError } from './errors.ts';
export type { ClientOptions } from './options.ts';

// The rebind client, for browsers and Node: calls with promised replies,
// pushes as events, automatic reconnection with the resume token, and a
// local replica of each room's state kept current from the server's patches.
// It speaks only the wire protocol; it imports nothing from the server.

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Every handler of the game by name, to its type: filled in by the
 * rebind-env.d.ts that `rebind types` writes. Empty, names are plain strings.
 */
export interface Handlers {}

/** How many nodes one call may be sent through before the client gives up (a loop would be a fleet bug). */
const MAX_HOPS = 3;

export interface JoinResult {
  player: string;
  token: string;
  graceMs: number;
  resumed: boolean;
}

type Listener = (payload: any) => void;

export class RebindClient {
  private readonly replicas = new RoomReplicas();
  /** Room name to store name to that store's replica. */
  readonly rooms = this.replicas.rooms;
  player: string | null = null;
  token: string | null = null;
  private socket: SocketLike | null = null;
  private readonly pending = new PendingRequests((err: ErrorBody) => new RebindClientError(err.code, err.message, err.redirect));
  /** The node this client is on now: the first URL, or the node a fleet sent it to. */
  url: string;
  /** A move to another node in progress: calls wait for it instead of starting a second one. */
  private moving: Promise<JoinResult> | undefined;
  private reconnecting: Promise<void> | undefined;
  /** When the server last sent anything (Date.now()). */
  private heardAt = 0;
  private readonly listeners = new Map<string, Set<Listener>>();
  private authPayload: unknown;
  private closedByUser = false;
  private attempt = 0;
  private readonly options: Required<Omit<ClientOptions, 'WebSocket'>> & { WebSocket?: SocketConstructor };
  /** Where the next failed reconnect goes: the first address, then each fallback, round and round. */
  private nextAddress = 0;

  constructor(
    /** The first node; after its node dies, the client comes back here and the fleet places it again. */
    readonly homeUrl: string,
    options: ClientOptions = {},
  ) {
    this.url = homeUrl;
    this.options = { encoding: 'msgpack', reconnect: true, backoffMs: [100, 5000], fallbackUrls: [], connectTimeoutMs: 5000, deadAfterMs: 10_000, ...options };
  }

  /** Opens the socket; resolves once it is open. */
  async connect(): Promise<void> {
    this.closedByUser = false;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket ?? ((await import('ws')).default as unknown as SocketConstructor);
    const url = this.url;
    const socket = new Ctor(url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      // A node that accepts the TCP connection and then answers nothing (frozen) must not hold the client for ever.
      const timer = setTimeout(() => {
        detach(socket);
        reject(new RebindClientError('CONNECT_FAILED', `${url} did not answer within ${this.options.connectTimeoutMs} ms`));
      }, this.options.connectTimeoutMs);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      socket.onerror = () => {
        clearTimeout(timer);
        reject(new RebindClientError('CONNECT_FAILED', `could not connect to ${url}`));
      };
      socket.onclose = (ev) => {
        clearTimeout(timer);
        reject(new RebindClientError('CONNECT_FAILED', `connection to ${url} closed: ${ev.code} ${ev.reason}`));
      };
    });
    socket.onmessage = (ev) => this.onMessage(ev.data);
    socket.onerror = () => undefined;
    socket.onclose = (ev) => this.onClose(socket, ev);
    this.heardAt = Date.now();
    watchSilence(socket, this.options.deadAfterMs, {
      current: () => socket === this.socket,
      heardAt: () => this.heardAt,
      ping: () => void this.request('$ping').catch(() => undefined),
      gone: (silentMs) => this.onClose(socket, { code: 4008, reason: `the server sent nothing for ${Math.round(silentMs / 1000)} s` }),
    });
    this.emit('open', null);
  }


  /** Joins as a player through the server's auth hook; the token is kept for resuming. In a fleet the join may land on another node (followed). */
  async join(payload: unknown): Promise<JoinResult> {
    this.authPayload = payload;
    return this.admitted(await this.following(() => this.request<JoinResult>('$auth', payload), (moved) => moved));
  }

  /** Takes back a player after a reconnect, with the token from join (and the player id, which another node of a fleet checks it against). */
  async resume(token = this.token): Promise<JoinResult> {
    return this.admitted(await this.following(() => this.request<JoinResult>('$resume', { token, player: this.player }), (moved) => moved));
  }

  /**
   * Runs a request; when a fleet answers with a redirect (the room or the
   * player is on another node), moves there with the ticket it was given,
   * keeping the player id, and then `again` decides the result: the same
   * call on the new node, or the move's own welcome.
   */
  private async following<R>(run: () => Promise<R>, again: (moved: JoinResult) => R | Promise<R>, hops = 0): Promise<R> {
    try {
      return await run();
    } catch (err) {
      const redirect = err instanceof RebindClientError ? err.redirect : undefined;
      if (!redirect || hops >= MAX_HOPS) throw err;
      const moved = await this.moveTo(redirect);
      return this.following(() => Promise.resolve(again(moved)), again, hops + 1);
    }
  }

  /** Leaves this node for the one a redirect names: a new socket there, the ticket as resume token. */
  private moveTo(redirect: Redirect): Promise<JoinResult> {
    this.moving ??= (async () => {
      const old = this.socket;
      if (old) {
        old.onclose = null;
        old.onmessage = null;
        old.close(1000, 'moving to another node of the fleet');
      }
      this.pending.failAll(new RebindClientError('DISCONNECTED', `moved to node ${redirect.node}`));
      this.url = redirect.url;
      this.replicas.clear();
      let welcome: JoinResult;
      try {
        await this.connect();
        welcome = this.admitted(await this.request<JoinResult>('$resume', { token: redirect.ticket, player: redirect.player }));
      } catch (err) {
        this.cameBackFrom(redirect);
        throw err;
      }
      this.emit('moved', { url: redirect.url, node: redirect.node, room: redirect.room ?? null, player: welcome.player });
      return welcome;
    })().finally(() => (this.moving = undefined));
    return this.moving;
  }

  /**
   * The node a redirect named did not take the player (killed since the fleet chose it): the ticket is the
   * player's token now (the fleet handed the player to that node), and the client comes back through its first
   * address, where the fleet adopts the player from the dead node and places it again ('resumed', or 'rejoined').
   */
  private cameBackFrom(redirect: Redirect): void {
    this.player = redirect.player;
    this.token = redirect.ticket;
    if (this.socket) detach(this.socket);
    this.url = this.homeUrl;
    // Inside a reconnection already (a resume there was sent on to the same node): it goes on, and says nothing new.
    if (this.closedByUser || !this.options.reconnect || this.reconnecting) return;
    this.emit('close', { code: 1006, reason: `node ${redirect.node} did not take the player` });
    this.startReconnecting();
  }

  /** One reconnection loop at a time (a move that fails inside it must not start a second). */
  private startReconnecting(): void {
    this.reconnecting ??= this.reconnect()
      // Nothing may escape as an unhandled rejection: in Node that ends the player's process.
      .catch((err: unknown) => this.emit('error', asClientError(err)))
      .finally(() => (this.reconnecting = undefined));
  }

  private admitted(result: JoinResult): JoinResult {
    this.player = result.player;
    this.token = result.token;
    return result;
  }

  /**
   * Calls a handler and resolves to its reply; rejects with a RebindClientError.
   * With the rebind-env.d.ts that `rebind types` writes, tsc checks the name
   * and the payload, and types the reply.
   */
  // Overloads in this order: the `$` requests (typed with or without a map),
  // the loose form (only without a map), the typed form, then two that only
  // ever fail: tsc reports the last overload's error, and theirs name the
  // handler and what it takes.
  call<N extends keyof SystemCalls>(name: N, ...payload: PayloadArg<SystemCalls, N>): Promise<ReturnOf<SystemCalls, N>>;
  call<R = unknown, N extends LooseName<Handlers> = LooseName<Handlers>>(name: N & NotSystemName<N>, payload?: unknown): Promise<R>;
  call<N extends ClientNameOf<Handlers>>(name: N, ...payload: PayloadArg<Handlers, N>): Promise<Awaited<ReturnOf<Handlers, N>>>;
  call<N extends string>(name: KnownName<N, ClientNameOf<Handlers>>, payload: WrongPayload<Handlers, N>): Promise<unknown>;
  call<N extends string>(name: KnownName<N, ClientNameOf<Handlers>, MissingPayload<Handlers, N>>): Promise<unknown>;
  call(name: string, payload: unknown = null): Promise<unknown> {
    return this.following(() => this.request(name, payload), () => this.request(name, payload));
  }

  /** Any request by name, system ones ($auth, $resume...) too: untyped on purpose. */
  request<R = unknown>(name: string, payload: unknown = null): Promise<R> {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return Promise.reject(new RebindClientError('DISCONNECTED', 'not connected'));
    const { frame, reply } = this.pending.start<R>(name, payload);
    socket.send(this.encode(frame));
    return reply;
  }

  /** Replies that matched no pending call (a duplicate or a stray reply: should stay 0). */
  get unmatchedReplies(): number {
    return this.pending.unmatched;
  }

  /** Fire and forget (seq 0: the server sends no reply). */
  send(name: string, payload: unknown = null): void {
    if (this.socket?.readyState === 1) this.socket.send(this.encode([name, 0, payload]));
  }

  /**
   * Pushes by event name, plus 'state' (a room changed), 'open', 'close',
   * 'resumed', 'rejoined', 'moved' (a fleet sent this player to another
   * node: {url, node, room, player}), and 'error' (a RebindClientError: a stray error
   * reply, or a reconnection whose resume and rejoin were refused).
   */
  on(event: string, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The local replica of a room's view of a store. */
  state<T = unknown>(room: string, store: string): T | undefined {
    return this.rooms.get(room)?.[store] as T | undefined;
  }

  close(): void {
    this.closedByUser = true;
    this.socket?.close(1000, 'client closed');
  }

  /** Cuts the socket without saying goodbye (tests and demos of a dropped connection). */
  drop(): void {
    (this.socket as unknown as { terminate?: () => void })?.terminate?.() ?? this.socket?.close(4000, 'dropped');
  }

  get connected(): boolean {
    return this.socket?.readyState === 1;
  }

  private encode(message: unknown[]): Uint8Array | string {
    return this.options.encoding === 'json' ? JSON.stringify(message) : packr.pack(message);
  }

  private emit(event: string, payload: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) listener(payload);
  }

  private onMessage(data: unknown): void {
    this.heardAt = Date.now();
    let message: unknown;
    try {
      message = readFrame(data as string | ArrayBuffer);
    } catch (err) {
      return this.emit('error', new RebindClientError('BAD_FRAME', `the server sent a frame that could not be read (ignored): ${err instanceof Error ? err.message : String(err)}`));
    }
    // A frame is [event, ...] or [seq, ...] (docs/protocol.md): anything else is said and ignored, never thrown out of the socket's handler.
    if (!Array.isArray(message) || (typeof message[0] !== 'string' && typeof message[0] !== 'number')) {
      return this.emit('error', new RebindClientError('BAD_FRAME', 'the server sent a frame that is neither [event, ...] nor [seq, ...] (ignored)'));
    }
    const incoming = this.pending.receive(message);
    if (incoming.kind === 'push') {
      const { event, payload } = incoming;
      if (event === '$redirect') {
        // The room this player is in moved to another node: follow it there (a redirect that names none is a bad frame, and ignored).
        if (!isRedirect(payload)) return this.emit('error', new RebindClientError('BAD_FRAME', 'the server sent a $redirect that is not {url, node, player, ticket} (ignored)'));
        this.moveTo(payload).catch((err: unknown) => this.emit('error', asClientError(err)));
      } else if (event === '$state' || event === '$patch' || event === '$delta') {
        let room: string | undefined;
        try {
          room = this.replicas.apply(event, payload);
        } catch (err) {
          // A frame of the wrong shape (a TypeError in the replica's reader) is as bad as one that does not fit: said, and ignored.
          return this.emit('error', new RebindClientError('BAD_SYNC', err instanceof SyncError ? err.message : `the server sent a ${event} the replica cannot read (ignored): ${err instanceof Error ? err.message : String(err)}`));
        }
        if (room) this.emit('state', { room, stores: this.replicas.rooms.get(room) });
      }
      this.emit(event, payload);
    } else if (!incoming.matched && incoming.error) this.emit('error', this.pending.error(incoming.error));
  }

  private onClose(socket: SocketLike, ev: { code: number; reason: string }): void {
    if (socket !== this.socket) return;
    this.pending.failAll(new RebindClientError('DISCONNECTED', `connection closed: ${ev.code} ${ev.reason}`));
    this.emit('close', { code: ev.code, reason: String(ev.reason) });
    // 4001: replaced by a newer connection of this player. 4002 without a token: the
    // server closed a connection that never joined; reconnecting would only repeat it.
    if (this.closedByUser || !this.options.reconnect || ev.code === 4001 || (ev.code === 4002 && !this.token)) return;
    this.startReconnecting();
  }

  /**
   * After two failed attempts on a node: a node of a fleet that stays away
   * (killed). The first address, then the fallbacks, take the player instead
   * (the fleet checks its token and places it again).
   */
  private tryAnotherAddress(): void {
    if (this.attempt < 2) return;
    const addresses = [this.homeUrl, ...this.options.fallbackUrls];
    this.url = addresses[this.nextAddress++ % addresses.length]!;
  }

  private async reconnect(): Promise<void> {
    const [first, most] = this.options.backoffMs;
    while (!this.closedByUser) {
      const delay = Math.min(most, first * 2 ** this.attempt++);
      await new Promise((r) => setTimeout(r, delay));
      try {
        await this.connect();
      } catch {
        this.tryAnotherAddress();
        continue;
      }
      if (!this.token) {
        this.attempt = 0;
        return;
      }
      try {
        this.emit('resumed', await this.resume());
        this.attempt = 0;
      } catch (err) {
        if (TRANSIENT.has((err as RebindClientError).code)) {
          // A fleet sent the player to a node that is gone, or has not freed its rooms yet: try again.
          this.tryAnotherAddress();
          continue;
        }
        this.attempt = 0;
        if ((err as RebindClientError).code !== 'RESUME_FAILED' || this.authPayload === undefined) {
          this.emit('error', asClientError(err));
          return;
        }
        this.replicas.clear();
        let joined: JoinResult;
        try {
          joined = await this.join(this.authPayload);
        } catch (joinErr) {
          if (TRANSIENT.has((joinErr as RebindClientError).code)) {
            this.tryAnotherAddress();
            continue;
          }
          // The server refused to take the player back: say so, as an event.
          this.emit('error', asClientError(joinErr));
          return;
        }
        this.emit('rejoined', joined);
      }
      return;
    }
  }
}
