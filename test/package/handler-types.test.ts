import { expect, it } from 'vitest';
import type { ClientMark, InternalNameOf, NameOf, PayloadArg } from '../../client/handler-types.ts';
import type { ClientCtx, Ctx, SessionCtx } from 'rebind';
import { RebindClient } from 'rebind/client';

// Checked by tsc (npm run typecheck: tsc -p test), with a handler map of its
// own: each @ts-expect-error fails the typecheck if the line it marks stops
// being an error. The run below only makes sure the file is loaded.

type Map = {
  'game.inner': (ctx: Ctx) => number;
  'game.take': (ctx: Ctx, payload: { n: number }) => number;
  'game.maybe': (ctx: Ctx, payload?: number) => number;
  'game.say': ((ctx: ClientCtx, payload: { text: string }) => void) & ClientMark;
  'session.join': (ctx: SessionCtx) => void;
  'session.note': (ctx: Ctx) => void;
  'lobby.greet': (ctx: SessionCtx) => void;
};

const payload = <N extends NameOf<Map>>(_name: N, ..._p: PayloadArg<Map, N>) => true;
const schedulable = <N extends InternalNameOf<Map>>(name: N) => name;

it('a handler without a payload parameter takes none; session hooks and player-typed hooks are not schedulable', () => {
  payload('game.inner');
  // @ts-expect-error game.inner has no payload parameter: a payload is refused
  payload('game.inner', 5);
  payload('game.take', { n: 1 });
  // @ts-expect-error a wrong payload
  payload('game.take', { n: 'one' });
  payload('game.maybe');
  payload('game.maybe', 2);
  schedulable('game.inner');
  schedulable('session.note');
  // @ts-expect-error a session hook needs a player; a timer has none
  schedulable('session.join');
  // @ts-expect-error a handler whose ctx is typed SessionCtx needs a player
  schedulable('lobby.greet');
  // @ts-expect-error a client handler needs a player
  schedulable('game.say');
  expect(schedulable('game.inner')).toBe('game.inner');
});

it("client.call('$versions', 5) is a type error, even without a generated map", () => {
  const typeOnly = (c: RebindClient) => {
    void c.call('$versions');
    // @ts-expect-error $versions takes no payload
    void c.call('$versions', 5);
    // @ts-expect-error $ping takes no payload
    void c.call('$ping', { x: 1 });
    void c.call('anything.else', 5);
  };
  expect(typeof typeOnly).toBe('function');
});
