// Handler names, payloads and results at the type level, from a map of
// handler name to the handler's own type (`typeof import('./logic/arena.ts')['move']`).
// `rebind types` writes that map into rebind-env.d.ts; with no map, every
// name is a plain string and every payload is unknown, as before.
// Types only: nothing here exists at run time.

// The mark client() puts on a handler's type, so that the names a client may
// call can be told from internal ones. A type only: at run time client() marks
// the function with a symbol of its own (server/api.ts).
declare const clientHandler: unique symbol;
export interface ClientMark {
  readonly [clientHandler]: true;
}

/** What `$versions` answers (and pushes after every patch): module name to its live code. */
export type CodeVersions = Record<string, { version: number; hash: string }>;

/** The engine's own requests that a client may call by name (`$auth` and `$resume` through join() and resume()). */
export interface SystemCalls {
  $ping: ((ctx: unknown) => { now: number }) & ClientMark;
  $versions: ((ctx: unknown) => CodeVersions) & ClientMark;
  $leave: ((ctx: unknown) => { left: string }) & ClientMark;
}

/** True when the game has no generated map (a project without rebind-env.d.ts). */
export type Untyped<H> = [keyof H] extends [never] ? true : false;

// Mapped, not `keyof H`: so that tsc's messages list the names there are.
/** Every handler name of the map (what ctx.call takes), or any string without a map. */
export type NameOf<H> = Untyped<H> extends true ? string : { [K in keyof H]: K extends string ? K : never }[keyof H];

/** Names a client may call: client() handlers and the engine's `$` requests. */
export type ClientNameOf<H> = Untyped<H> extends true ? string : { [K in keyof H]: K extends string ? (H[K] extends ClientMark ? K : never) : never }[keyof H] | { [K in keyof SystemCalls]: K }[keyof SystemCalls];

/** The session hooks the host runs for a player (with the default session module, `session`). */
export type SessionHookName = `session.${'join' | 'resume' | 'drop' | 'leave' | 'arrived'}`;

/** True when a handler's ctx must have a player: a client() handler, a hook typed with SessionCtx, a session hook. */
export type NeedsPlayer<H, K> = K extends SessionHookName ? true : K extends keyof H ? (H[K] extends ClientMark ? true : H[K] extends (ctx: infer C, ...rest: any) => any ? (C extends { readonly player: string } ? true : false) : false) : false;

/** Names that run without a player (not client() handlers, not session hooks): what ctx.schedule takes. */
export type InternalNameOf<H> = Untyped<H> extends true ? string : { [K in keyof H]: K extends string ? (NeedsPlayer<H, K> extends true ? never : K) : never }[keyof H];

/** The name a loose, untyped call may use: any string without a map, nothing with one. */
export type LooseName<H> = Untyped<H> extends true ? string : never;

/** Refuses a `$` request's name in the loose form, so `call('$versions', 5)` is checked by the `$` overload alone. */
export type NotSystemName<N> = N extends keyof SystemCalls ? never : unknown;

/**
 * The handler's payload: its second parameter, or `undefined` when it has none (so `(ctx) => ...` refuses a payload).
 * A `$` name the engine answers itself is typed from SystemCalls even in a game without a generated map.
 */
export type PayloadOf<H, N> = N extends keyof H ? ParamAfterCtx<H[N]> : N extends keyof SystemCalls ? ParamAfterCtx<SystemCalls[N]> : unknown;

type ParamAfterCtx<F> = F extends (...args: infer A) => any ? (A extends [any, ...infer Rest] ? (Rest extends [] ? undefined : Rest[0]) : A extends [] ? undefined : A[1]) : never;

/** What the handler returns, a promise included (ctx.call runs it synchronously). */
export type ReturnOf<H, N> = N extends keyof H ? (H[N] extends (...args: any) => infer R ? R : never) : unknown;

/** The payload argument: may be left out when the handler takes none, or accepts undefined. */
export type PayloadArg<H, N> = undefined extends PayloadOf<H, N> ? [payload?: PayloadOf<H, N>] : [payload: PayloadOf<H, N>];

// The types below exist for tsc's messages. When no overload of a call
// matches, tsc reports the last one's error; the last overloads take these,
// so that the error names the handler and what it takes.

/** The name as written when it is one of `Names` (with `Mark`), else every name there is (the message lists them). */
export type KnownName<N, Names, Mark = unknown> = N extends Names ? N & Mark : Names;

/** A payload that does not fit: the message says which handler, and what it takes. */
export type WrongPayload<H, N> = N extends string ? { [K in `payload of ${N}`]: PayloadOf<H, N> } : never;

/** A call without the payload its handler needs. */
export type MissingPayload<H, N> = N extends string ? { [K in `${N} needs a payload`]: PayloadOf<H, N> } : never;

/** ctx.schedule of a handler that needs a player (a client() handler, a session hook): a timer has none, so it would fail NEEDS_PLAYER. */
export type NotSchedulable<N> = N extends string ? { [K in `${N} ${N extends SessionHookName ? 'is a session hook' : 'is a client handler'}: it needs a player, and a timer has none (schedule an internal handler)`]: never } : never;

/** What ctx.schedule's failing overloads take as the name: the name (with `Mark`), why a client handler cannot be scheduled, or every name there is. */
export type ScheduledName<H, N, Mark = unknown> = N extends InternalNameOf<H> ? N & Mark : N extends NameOf<H> ? NotSchedulable<N> : InternalNameOf<H>;
