import dc from 'node:diagnostics_channel';
import { attemptBound, type OwnedListeners } from './logic-scope.ts';

// node:diagnostics_channel as a module version sees it. A subscriber runs in
// the context of whoever publishes, so nothing carries its version along:
// like a listener on `process`, it belongs to the version that subscribed
// (removed when the version is replaced or refused), and one a refused patch
// attempt subscribed does nothing. Publishing and the rest are Node's own.

type OnMessage = (message: unknown, name: string | symbol) => void;

export function channelsFor(owner: OwnedListeners): typeof dc {
  const subscribe = (name: string | symbol, onMessage: OnMessage): void => {
    if (typeof onMessage !== 'function') return dc.subscribe(name, onMessage);
    const wrapped = attemptBound(onMessage as (...args: unknown[]) => void, owner.onError) as unknown as OnMessage;
    if (owner.own(dc, name, wrapped as never, () => dc.unsubscribe(name, wrapped))) dc.subscribe(name, wrapped);
  };
  const unsubscribe = (name: string | symbol, onMessage: OnMessage): boolean => {
    const wrapped = owner.find(dc, name, onMessage);
    if (!wrapped) return dc.unsubscribe(name, onMessage);
    owner.forget(wrapped);
    return dc.unsubscribe(name, wrapped as unknown as OnMessage);
  };
  const channel = (name: string | symbol): dc.Channel => {
    const real = dc.channel(name);
    return new Proxy(real, {
      get(target, key) {
        if (key === 'subscribe') return (onMessage: OnMessage) => subscribe(name, onMessage);
        if (key === 'unsubscribe') return (onMessage: OnMessage) => unsubscribe(name, onMessage);
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return { ...dc, subscribe, unsubscribe, channel };
}
