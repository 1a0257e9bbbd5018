// Handler names, payloads and results at the type level, from a map of
// handler name to the handler's own type (`typeof import('./logic/arena.ts')['move']`).
// `rebind types` writes that map into rebind-env.d.ts; with no map, every
// name is a plain string and every payload is unknown, as before.
// Types only: nothing here exists at run time.

/** True when the game has no generated map (a project without rebind-env.d.ts). */
export type Untyped<H> = [keyof H] extends [never] ? true : false;

/** A handler name: one of the map's, or any string without a map. */
// Mapped, not `keyof H`: so that tsc's message lists the names there are.
export type NameOf<H> = Untyped<H> extends true ? string : { [K in keyof H]: K extends string ? K : never }[keyof H];

/** The name a loose, untyped call may use: any string without a map, nothing with one. */
export type LooseName<H> = Untyped<H> extends true ? string : never;

export type PayloadOf<H, N> = N extends keyof H ? (H[N] extends (ctx: any, payload: infer P) => any ? P : never) : unknown;

/** What the handler returns, a promise included (ctx.call runs it synchronously). */
export type ReturnOf<H, N> = N extends keyof H ? (H[N] extends (...args: any) => infer R ? R : never) : unknown;

/** The payload argument: may be left out when the handler takes none, or accepts undefined. */
export type PayloadArg<H, N> = undefined extends PayloadOf<H, N> ? [payload?: PayloadOf<H, N>] : [payload: PayloadOf<H, N>];
