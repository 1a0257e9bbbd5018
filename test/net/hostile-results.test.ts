import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/project.ts';

// A client handler may return anything, a Proxy whose traps throw included.
// The gateway asks whether a result is a promise before it waits for it:
// asked with `instanceof`, a returned Proxy's getPrototypeOf trap threw out of
// the server's own request path. And a promise may carry its own `then`:
// called as result.then(...), it ran outside any try, the call was never
// answered, the connection stopped answering and SIGTERM never finished. The
// caller gets an answer (the promise's real value, or HANDLER_ERROR), the
// connection goes on, and the server stops when told.

const LOGIC = `import { client } from '../server/api';
const trap = () => { throw new Error('trap'); };
export const trapProxy = client(() => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap }));
export const revokedProxy = client(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; });
export const asyncTrap = client(async () => new Proxy({}, { get: trap, getPrototypeOf: trap }));
export const fine = client(() => 'fine');
// A real promise carrying a 'then' of its own: a getter that throws, or one that returns another such promise.
function ownThen(then: unknown) { const p = Promise.resolve(1); Object.defineProperty(p, 'then', { value: then }); return p; }
function thenGetter() { const p = Promise.resolve(2); Object.defineProperty(p, 'then', { get() { throw new Error('then getter'); } }); return p; }
export const thenGetterThrows = client(() => thenGetter());
export const twoLevelThenGetter = client(() => ownThen(() => thenGetter()));
export const twoLevelProxy = client(() => ownThen(() => ownThen(() => new Proxy({}, { get: trap, getPrototypeOf: trap }))));
export const twoLevelObject = client(() => ownThen(() => ownThen(() => ({ not: 'a reply' }))));
// What MessagePack and JSON carried differently, or not at all.
export const bigint = client(() => ({ a: [1, 2n] }));
export const map = client(() => new Map([[1, 2]]));
export const set = client(() => ({ s: new Set([1]) }));
export const date = client(() => new Date(0));
export const fn = client(() => () => 1);
export const symbol = client(() => Symbol('s'));
export const toJSON = client(() => ({ toJSON() { return 1; } }));
export const proxyBig = client(() => new Proxy({ a: 1 }, { get: (t, k) => (k === 'a' ? 10n : (t as Record<PropertyKey, unknown>)[k]) }));
export const proxyArray = client(() => new Proxy([1, 2], { get: (t, k) => (k === '0' ? 99n : (t as unknown as Record<PropertyKey, unknown>)[k]) }));
// Promises whose constructor's Symbol.species is logic's: the intrinsic then makes its result with it.
function withSpecies(value: unknown, species: unknown) { const p = Promise.resolve(value); Object.defineProperty(p, 'constructor', { value: { [Symbol.species]: species } }); return p; }
export const speciesNotPromise = client(() => withSpecies(7, function (exec: (a: unknown, b: unknown) => void) { exec(() => {}, () => {}); return {}; }));
export const speciesSwallows = client(() => withSpecies(7, function (exec: (a: unknown, b: unknown) => void) { exec(() => {}, () => {}); return new Promise(() => {}); }));
function ownThenThrows(exec: never) { const q = new Promise(exec); Object.defineProperty(q, 'then', { get() { throw new Error('own then, level 2'); } }); return q; }
export const speciesTwoLevels = client(() => withSpecies(1, function (exec: never) { const q = new Promise(exec); Object.defineProperty(q, 'constructor', { value: { [Symbol.species]: ownThenThrows } }); return q; }));
export const nothing = client(() => undefined);
export const plain = client(() => Object.freeze({ a: [1, 'two', null, { b: true }] }));
`;

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('a client handler returning a hostile Proxy answers HANDLER_ERROR, and the server goes on', async () => {
  t = await startServer({ 'logic/odd.ts': LOGIC });
  const c = new RebindClient(t.url, { reconnect: false });
  await c.connect();
  await c.join({ name: 'ann' });
  for (const handler of ['odd.trapProxy', 'odd.revokedProxy', 'odd.asyncTrap']) {
    const outcome = await c.call(handler, {}).then(
      (value) => ({ value }),
      (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
    );
    expect(outcome, handler).toMatchObject({ code: 'HANDLER_ERROR' });
  }
  expect(await c.call('odd.fine', {})).toBe('fine');
  c.close();
});

it('a promise with a then or a species of its own is waited for by its real outcome: every call is answered, the connection goes on, the server stops', async () => {
  t = await startServer({ 'logic/odd.ts': LOGIC });
  for (const encoding of ['msgpack', 'json'] as const) {
    const c = new RebindClient(t.url, { reconnect: false, encoding });
    const errors: unknown[] = [];
    c.on('error', (err) => errors.push(err));
    await c.connect();
    await c.join({ name: `ann-${encoding}` });
    // The promises' own values (1 and 2): their own 'then' never runs.
    for (const [handler, value] of [['odd.thenGetterThrows', 2], ['odd.twoLevelThenGetter', 1], ['odd.twoLevelProxy', 1], ['odd.twoLevelObject', 1], ['odd.speciesNotPromise', 7], ['odd.speciesSwallows', 7], ['odd.speciesTwoLevels', 1]] as const) {
      expect(await c.call(handler, {}), `${handler} ${encoding}`).toBe(value);
    }
    expect(await c.call('odd.fine', {})).toBe('fine');
    expect(errors).toEqual([]);
    c.close();
  }
  const stopped = t.stop().then(() => 'stopped');
  t = undefined;
  expect(await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 10_000, 'still running'))])).toBe('stopped');
}, 30_000);

it('a result that is not plain data is HANDLER_ERROR naming where, the same in MessagePack and JSON', async () => {
  t = await startServer({ 'logic/odd.ts': LOGIC });
  for (const encoding of ['msgpack', 'json'] as const) {
    const c = new RebindClient(t.url, { reconnect: false, encoding });
    await c.connect();
    await c.join({ name: `bo-${encoding}` });
    const expected: Record<string, RegExp> = {
      'odd.bigint': /^odd\.bigint returned what a reply cannot carry \(result\.a\.1: a bigint is not plain data\)/,
      'odd.map': /\(result: an instance of Map is not plain data\)/,
      'odd.set': /\(result\.s: an instance of Set is not plain data\)/,
      'odd.date': /\(result: an instance of Date is not plain data\)/,
      'odd.fn': /\(result: a function/,
      'odd.symbol': /\(result: a symbol is not plain data\)/,
      'odd.toJSON': /\(result\.toJSON: a function/,
      // A Proxy's traps answer the encoders, not the check: refused whole.
      'odd.proxyBig': /\(result: a proxy is not plain data\)/,
      'odd.proxyArray': /\(result: a proxy is not plain data\)/,
    };
    for (const [handler, message] of Object.entries(expected)) {
      const outcome = await c.call(handler, {}).then(
        (value) => ({ value }),
        (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
      );
      expect(outcome, `${handler} ${encoding}`).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringMatching(message) });
    }
    expect(await c.call('odd.nothing', {})).toBe(null);
    expect(await c.call('odd.plain', {})).toEqual({ a: [1, 'two', null, { b: true }] });
    c.close();
  }
});

it('with --fsync always, the reply is the result as checked, not as logic changed it while the disk was awaited', async () => {
  const changing = `import { client } from '../server/api';
import { counter } from '../state/counter';
export const flip = client(() => { counter.update((d) => { d.n++; }); const o: Record<string, unknown> = { a: 1 }; setImmediate(() => { o.a = 5n; o.m = new Map([[1, 2]]); }); return o; });
`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rebind-hostile-'));
  t = await startServer({ 'logic/changing.ts': changing, 'state/counter.ts': `import { defineStore } from '../server/api';\nexport const counter = defineStore('counter', { n: 0 });\n` }, { dataDir, fsync: 'always' });
  try {
    for (const encoding of ['msgpack', 'json'] as const) {
      const c = new RebindClient(t.url, { reconnect: false, encoding });
      await c.connect();
      await c.join({ name: `fs-${encoding}` });
      expect(await c.call('changing.flip', {}), encoding).toEqual({ a: 1 });
      c.close();
    }
  } finally {
    await t.stop();
    t = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

it('fourth attack: a result too deep to copy, a promise whose value gains a then, and pushes that are not events or not data are each answered with an error; the server goes on', async () => {
  const logic = `import { client } from '../server/api';
import { counter } from '../state/counter';
function nested(n: number) { let a: unknown[] = []; for (let i = 0; i < n; i++) a = [a]; return a; }
export const deep = client((ctx: unknown, n: number) => { counter.update((d) => { d.n++; }); return nested(n); });
export const deepAsync = client(async (ctx: unknown, n: number) => { counter.update((d) => { d.n++; }); await null; return nested(n); });
export const thenLater = client(() => { const o: Record<string, unknown> = { a: 1 }; const p = Promise.resolve(o); o.then = (resolve: (v: unknown) => void) => resolve('swapped'); return p; });
export const thenLaterNever = client(() => { const o: Record<string, unknown> = { a: 1 }; const p = Promise.resolve(o); o.then = () => undefined; return p; });
export const push = client((ctx: { send(p: string, e: unknown, v?: unknown): void; player: string }, p: { event: unknown; big?: boolean }) => { ctx.send(ctx.player, p.event, p.big ? { n: 10n } : { ok: true }); return 'sent'; });
export const pushDeep = client((ctx: { send(p: string, e: string, v?: unknown): void; player: string }, n: number) => { ctx.send(ctx.player, 'told', nested(n)); return 'sent'; });
export const fine = client(() => 'fine');
`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rebind-hostile-'));
  t = await startServer({ 'logic/d.ts': logic, 'state/counter.ts': `import { defineStore } from '../server/api';\nexport const counter = defineStore('counter', { n: 0 });\n` }, { dataDir, fsync: 'always' });
  try {
    const c = new RebindClient(t.url, { reconnect: false });
    const pushes: unknown[] = [];
    c.on('told', (payload) => pushes.push(payload));
    await c.connect();
    await c.join({ name: 'deep' });
    const outcome = (handler: string, payload: unknown) =>
      c.call(handler as never, payload as never).then(
        (value: unknown) => ({ value }),
        (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
      );
    // Deep enough to pass the check and overflow a copy (between about 3,500 and 5,000): an answer, not a stop.
    for (const handler of ['d.deep', 'd.deepAsync']) expect(await outcome(handler, 4000), handler).toMatchObject({ code: 'HANDLER_ERROR' });
    expect(await outcome('d.thenLater', {})).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('then of its own') });
    expect(await outcome('d.thenLaterNever', {})).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('then of its own') });
    for (const event of [2, '$state', 'error', 'close', '']) expect(await outcome('d.push', { event }), String(event)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await outcome('d.push', { event: 'told', big: true })).toMatchObject({ code: 'NOT_PLAIN_DATA' });
    // Deep enough to pass the checks and the copy but not MessagePack's encoder, after the commit: refused when sent (attack 16e).
    expect(await outcome('d.pushDeep', 1500)).toMatchObject({ code: 'NOT_PLAIN_DATA', message: expect.stringContaining('nested more than 500 levels deep') });
    expect(await outcome('d.deep', 1500)).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('nested more than 500 levels deep') });
    expect(await outcome('d.push', { event: 'told' })).toEqual({ value: 'sent' });
    await waitFor(() => pushes.length === 1, 5000, 'the good push');
    expect(pushes).toEqual([{ ok: true }]);
    expect(await c.call('d.fine' as never, {} as never)).toBe('fine');
    c.close();
    const stopped = t.stop().then(() => 'stopped');
    t = undefined;
    expect(await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 10_000, 'still running'))])).toBe('stopped');
  } finally {
    await t?.stop();
    t = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
