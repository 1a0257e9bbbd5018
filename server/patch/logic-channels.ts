import type { AsyncLocalStorage } from 'node:async_hooks';
import dc from 'node:diagnostics_channel';
import { currentAttempt } from '../store/transaction.ts';
import { attemptBound, type OwnedListeners, type Wrapped } from './logic-process.ts';

// node:diagnostics_channel as a module version sees it. A subscriber runs in
// the context of whoever publishes, so nothing carries its version along:
// like a listener on `process`, it belongs to the version that subscribed
// (removed when the version is replaced or refused), and one a refused patch
// attempt subscribed does nothing. The same holds for what reaches logic
// another way: a tracing channel's subscribers (its five channels are views
// of this kind) and a store bound with bindStore, whose transform runs in the
// publisher's context too. Publishing and the rest are Node's own.

type OnMessage = (message: unknown, name: string | symbol) => void;
type Store = AsyncLocalStorage<unknown>;
type Transform = (message: unknown) => unknown;

const TRACE_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

/**
 * The transforms that logic bound, per channel and store, in the order they were bound. A channel
 * holds one transform per store, so the last one bound is the one that runs; when it goes (its
 * version replaced, its patch attempt refused, unbound), the one before it that is still bound runs
 * again: a refused attempt binding the store a live version bound must not leave that version
 * without its binding.
 */
const boundByLogic = new Map<string | symbol, Map<Store, Wrapped[]>>();

function bind(name: string | symbol, store: Store, bound: Wrapped): void {
  let stores = boundByLogic.get(name);
  if (!stores) boundByLogic.set(name, (stores = new Map()));
  let stack = stores.get(store);
  if (!stack) stores.set(store, (stack = []));
  stack.push(bound);
  dc.channel(name).bindStore(store, bound as unknown as Transform);
}

/** Takes `bound` off; if it was the one running, the previous one still bound runs again (or none). */
function unbind(name: string | symbol, store: Store, bound: Wrapped): boolean {
  const stores = boundByLogic.get(name);
  const stack = stores?.get(store);
  const at = stack?.indexOf(bound) ?? -1;
  if (at === -1) return false;
  stack!.splice(at, 1);
  if (at < stack!.length) return true;
  const previous = stack!.at(-1);
  if (previous) {
    dc.channel(name).bindStore(store, previous as unknown as Transform);
    return true;
  }
  stores!.delete(store);
  if (stores!.size === 0) boundByLogic.delete(name);
  return dc.channel(name).unbindStore(store);
}

/**
 * `transform` for a store bound now: once the patch attempt binding it is refused it leaves the
 * store as it is, and a throw is reported and leaves the store as it is too (Node would rethrow it
 * as an uncaught exception, which would end the server).
 */
function ownTransform(store: Store, transform: Transform | undefined, onError: (err: unknown) => void): Wrapped {
  const attempt = currentAttempt();
  const bound = ((message: unknown) => {
    if (attempt?.refused) return store.getStore();
    if (transform === undefined) return message;
    try {
      return transform(message);
    } catch (err) {
      onError(err);
      return store.getStore();
    }
  }) as unknown as Wrapped;
  bound.listener = store;
  return bound;
}

export function channelsFor(owner: OwnedListeners): typeof dc {
  const subscribe = (name: string | symbol, onMessage: OnMessage): void => {
    if (typeof onMessage !== 'function') return dc.subscribe(name, onMessage);
    const wrapped = attemptBound(onMessage as (...args: unknown[]) => void, owner.onError) as unknown as OnMessage;
    if (owner.own(dc, name, wrapped as never, () => dc.unsubscribe(name, wrapped))) dc.subscribe(name, wrapped);
  };
  // Only its own: another module's subscriber (or the host's) is not there for it, as Node says false for one it does not have.
  const unsubscribe = (name: string | symbol, onMessage: OnMessage): boolean => {
    const wrapped = owner.find(dc, name, onMessage);
    if (!wrapped) return false;
    owner.forget(wrapped);
    return dc.unsubscribe(name, wrapped as unknown as OnMessage);
  };
  const bindStore = (name: string | symbol, store: Store, transform?: Transform): void => {
    if (transform !== undefined && typeof transform !== 'function') return dc.channel(name).bindStore(store, transform);
    const bound = ownTransform(store, transform, owner.onError);
    // Bound again by the same version: its new transform replaces its old one.
    const before = owner.find(boundByLogic, name, store);
    if (before) {
      owner.forget(before);
      unbind(name, store, before);
    }
    if (owner.own(boundByLogic, name, bound, () => unbind(name, store, bound))) bind(name, store, bound);
  };
  const unbindStore = (name: string | symbol, store: Store): boolean => {
    const bound = owner.find(boundByLogic, name, store);
    if (!bound) return false;
    owner.forget(bound);
    return unbind(name, store, bound);
  };

  // One view per name, as Node gives one channel per name: channel(name) === channel(name).
  const views = new Map<string | symbol, dc.Channel>();
  const viewOf = (name: string | symbol): dc.Channel => {
    const real = dc.channel(name);
    const own = new Map<PropertyKey, unknown>([
      ['subscribe', (onMessage: OnMessage) => subscribe(name, onMessage)],
      ['unsubscribe', (onMessage: OnMessage) => unsubscribe(name, onMessage)],
      ['bindStore', (store: Store, transform?: Transform) => bindStore(name, store, transform)],
      ['unbindStore', (store: Store) => unbindStore(name, store)],
    ]);
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(real, {
      get(target, key) {
        if (own.has(key)) return own.get(key);
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== 'function') return value;
        // Bound once per method, so that a method read twice is the same function; rebound when the
        // channel's methods change (Node swaps its prototype when it gets its first subscriber).
        let fn = bound.get(key) as { of?: unknown } | undefined;
        if (fn?.of !== value) bound.set(key, (fn = Object.assign((value as (...args: unknown[]) => unknown).bind(target), { of: value })));
        return fn;
      },
    });
  };
  const channel = (name: string | symbol): dc.Channel => {
    let view = views.get(name);
    if (!view) views.set(name, (view = viewOf(name)));
    return view;
  };
  // Node's TracingChannel over the version's views: its subscribe() and unsubscribe() call each
  // channel's own, so they are the version's.
  const tracingChannel = ((nameOrChannels: string | Record<string, dc.Channel>) => {
    const real = dc.tracingChannel(nameOrChannels as never) as unknown as Record<string, dc.Channel>;
    return dc.tracingChannel(Object.fromEntries(TRACE_EVENTS.map((event) => [event, channel(real[event]!.name)])) as never);
  }) as typeof dc.tracingChannel;
  return { ...dc, subscribe, unsubscribe, channel, tracingChannel };
}
