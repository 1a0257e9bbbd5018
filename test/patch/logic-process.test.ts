import { expect, it } from 'vitest';
import { openHost, valueOf } from '../engine/hosts.ts';
import { whoThrew } from '../../server/uncaught.ts';
import { ADMIN_TOKEN, lastSnapshotOf, withGameProcess } from '../helpers/game-process.ts';
import { runCli } from '../helpers/process.ts';
import { COUNTER_STATE, waitFor } from '../helpers/project.ts';

// A version's listeners on `process` as Node would run them, without reaching the server
// (logic-process.ts): `this` is the version's own process, logic's emit hands a throw back,
// Node's newListener/removeListener tell a version only of its own, and what a replaced version
// awaits through node:events ends. Each case was found by an outside attack.

const log = (host: Parameters<typeof valueOf>[0]) => [...valueOf<{ log: string[] }>(host, 'counter').log];

it("`this` in a listener is the version's own process: through it, a listener cannot exit, stop or strip the server (a real server, SIGTERM after a signal the listener heard)", async () => {
  await withGameProcess({
    'logic/tidy.ts': `import { client } from '../server/api';
import { counter } from '../state/counter';
let seen = -1;
process.on('round-over' as never, function (this: any, how: string) {
  if (how === 'exit') this.exit(3);
  if (how === 'emit') seen = Number(this.emit('SIGTERM'));
  if (how === 'peek') seen = this.listeners('SIGTERM').length;
} as never);
// Node itself emits this one, with the real process as this.
process.on('SIGUSR2' as never, function (this: any) { this.removeAllListeners(); this.emit('SIGTERM'); counter.update((d) => { d.log.push('usr2'); }); } as never);
export const round = client((ctx: unknown, how: string) => { seen = -1; process.emit('round-over' as never, how as never); return seen; });
export const bump = client(() => counter.update((d) => { d.n++; }).n);
export const log = client(() => counter.get().log);
`,
  }, async (c, server, project) => {
    expect(await c.call('tidy.round', 'peek')).toBe(0);
    expect(await c.call('tidy.round', 'emit')).toBe(0);
    await expect(c.call('tidy.round', 'exit')).rejects.toThrow(/may not call process\.exit/);
    // Its listener removes all it sees through this (its own, both of them) and emits SIGTERM (reaching none).
    server.proc.kill('SIGUSR2');
    // (Waiting for the listener's own write: a call made before the signal is handled must not remove the listeners itself.)
    await waitFor(async () => /usr2/.test(JSON.stringify(await c.call('tidy.log'))), 10_000, 'the SIGUSR2 listener to run');
    expect(Number(await c.call('tidy.bump'))).toBeGreaterThanOrEqual(1);
    expect(await c.call('tidy.round', 'peek')).toBe(-1);
    c.close();
    expect(await server.stop()).toBe(0);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ log: ['usr2'] });
  });
}, 60_000);

it("logic's process.emit hands a listener's throw back to the emitter, as Node's does, so a failed half of a handler is not committed", async () => {
  const { host } = await openHost({
    'state/counter.ts': COUNTER_STATE,
    'logic/shop.ts': `import { counter } from '../state/counter';
process.on('purchase' as never, ((item: string) => { counter.update((d) => { d.log.push('granted ' + item); }); throw new Error('inventory full'); }) as never);
export function buy(ctx: unknown, item: string) { counter.update((d) => { d.log.push('paid for ' + item); }); process.emit('purchase' as never, item as never); }
export function buyCarefully(ctx: unknown, item: string) { try { process.emit('purchase' as never, item as never); return 'sold'; } catch (err) { return 'refunded: ' + (err as Error).message; } }
`,
  });
  expect(() => host.call('shop.buy', 'sword')).toThrow(/inventory full/);
  expect(log(host)).toEqual([]);
  expect(host.call('shop.buyCarefully', 'shield')).toBe('refunded: inventory full');
});

it("newListener and removeListener tell a version only of its own listeners: another module's (or a replaced version's) function never reaches it", async () => {
  const { host, project } = await openHost({
    'state/counter.ts': COUNTER_STATE,
    'logic/spy.ts': `import { counter } from '../state/counter';
const note = (what: string) => (ev: unknown) => { if (ev === 'chat-bus') counter.update((d) => { d.log.push(what); }); };
process.on('newListener' as never, note('spy saw an add') as never);
process.on('removeListener' as never, ((ev: unknown, fn: any) => { note('spy saw a removal')(ev); if (ev === 'chat-bus') process.on(ev as never, fn); }) as never);
export function mine() { const f = () => undefined; process.on('chat-bus' as never, f); process.off('chat-bus' as never, f); }
`,
    'logic/peer.ts': `import { counter } from '../state/counter';\nprocess.on('chat-bus' as never, ((m: string) => counter.update((d) => { d.log.push('peer-v1 got ' + m); })) as never);\nexport function send(ctx: unknown, m: string) { process.emit('chat-bus' as never, m as never); }\n`,
  });
  project.write('logic/peer.ts', `import { counter } from '../state/counter';\nprocess.on('chat-bus' as never, ((m: string) => counter.update((d) => { d.log.push('peer-v2 got ' + m); })) as never);\nexport function send(ctx: unknown, m: string) { process.emit('chat-bus' as never, m as never); }\n`);
  expect((await host.patch(['peer'])).ok).toBe(true);
  host.call('peer.send', 'b');
  // Only the new version heard it: the spy was told of neither peer's add or removal, so it could not re-add v1.
  expect(log(host)).toEqual(['peer-v2 got b']);
  host.call('spy.mine');
  // Its own add and removal it hears of; re-adding its own function on removal is its own business (a second add).
  expect(log(host)).toEqual(['peer-v2 got b', 'spy saw an add', 'spy saw a removal', 'spy saw an add']);
  expect(process.listenerCount('chat-bus' as never)).toBe(2);
});

it('removeAllListeners(undefined) removes nothing, as Node reads it; an unheard error names its value as Node does', async () => {
  const { host } = await openHost({
    'logic/m.ts': `process.on('rebind-kept' as never, () => undefined);
export function clearUndefined() { process.removeAllListeners(undefined); return process.listenerCount('rebind-kept' as never); }
export function clearAll() { process.removeAllListeners(); return process.listenerCount('rebind-kept' as never); }
export function unheard() { try { process.emit('error' as never, 'str' as never); } catch (err) { return (err as Error).message; } }
`,
  });
  expect(host.call('m.clearUndefined')).toBe(1);
  expect(host.call('m.clearAll')).toBe(0);
  let nodeMessage = '';
  const { EventEmitter } = await import('node:events');
  try {
    new EventEmitter().emit('error', 'str');
  } catch (err) {
    nodeMessage = (err as Error).message;
  }
  expect(host.call('m.unheard')).toBe(nodeMessage);
});

it('process setters that change the whole server are refused with LOGIC_FORBIDDEN; reading the umask is not', async () => {
  const { host } = await openHost({
    'logic/m.ts': `export function tryIt(ctx: unknown, what: string) {
  const p = process as any;
  try {
    if (what === 'capture') p.setUncaughtExceptionCaptureCallback(() => undefined);
    if (what === 'max') p.setMaxListeners(1);
    if (what === 'chdir') p.chdir('/');
    if (what === 'umask') p.umask(0);
    if (what === 'umask-read') return typeof p.umask();
    return 'allowed';
  } catch (err) { return (err as { code?: string }).code; }
}
`,
  });
  const cwd = process.cwd();
  const max = process.getMaxListeners();
  for (const what of ['capture', 'max', 'chdir', 'umask']) expect(host.call('m.tryIt', what), what).toBe('LOGIC_FORBIDDEN');
  expect(host.call('m.tryIt', 'umask-read')).toBe('number');
  expect(process.hasUncaughtExceptionCaptureCallback()).toBe(false);
  expect(process.getMaxListeners()).toBe(max);
  expect(process.cwd()).toBe(cwd);
});

it("a call awaiting node:events once() or on() of a replaced version ends with an AbortError instead of hanging", async () => {
  const { host, project } = await openHost({
    'logic/waiter.ts': `import { once, on } from 'node:events';
export async function waitOnce() { try { await once(process as never, 'rebind-never'); return 'fired'; } catch (err) { return (err as Error).name; } }
export async function iterate() { try { for await (const v of on(process as never, 'rebind-never-either')) return v; } catch (err) { return (err as Error).name; } }
`,
  });
  const waiting = [host.call('waiter.waitOnce') as Promise<string>, host.call('waiter.iterate') as Promise<string>];
  project.write('logic/waiter.ts', `export function v() { return 2; }\n`);
  expect((await host.patch(['waiter'])).ok).toBe(true);
  // on() gives up at once, as an interval does; once() after the 10 s grace a replaced version's timeouts get.
  const settled = await Promise.race([Promise.all(waiting), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 20_000))]);
  expect(settled).toEqual(['AbortError', 'AbortError']);
}, 30_000);

it("node:events in logic is Node's EventEmitter to use and extend, but its server-wide defaults are read, not written", async () => {
  const { host } = await openHost({
    'logic/m.ts': `import events, { EventEmitter, setMaxListeners } from 'node:events';
class Bus extends EventEmitter { ping() { return this.emit('ping', 1); } }
export function use() { const bus = new Bus(); let got = 0; bus.on('ping', (n: number) => { got = n; }); bus.ping(); setMaxListeners(5, bus); return [got, bus.getMaxListeners(), bus instanceof events, events.EventEmitter === EventEmitter]; }
export function tryIt(ctx: unknown, what: string) {
  try {
    if (what === 'default') (EventEmitter as any).defaultMaxListeners = 1;
    if (what === 'subclass') (Bus as any).defaultMaxListeners = 1;
    if (what === 'global') setMaxListeners(1);
    return 'allowed';
  } catch (err) { return (err as { code?: string }).code; }
}
`,
  });
  const before = (await import('node:events')).EventEmitter.defaultMaxListeners;
  expect(host.call('m.use')).toEqual([1, 5, true, true]);
  for (const what of ['default', 'subclass', 'global']) expect(host.call('m.tryIt', what), what).toBe('LOGIC_FORBIDDEN');
  expect((await import('node:events')).EventEmitter.defaultMaxListeners).toBe(before);
});

it('a throw nothing catches in logic (an emitter capturing rejections, nextTick, queueMicrotask, setImmediate) is logged against its module and the server goes on; logic may not listen for uncaughtException (a real server)', async () => {
  await withGameProcess({
    'logic/oops.ts': `import { client } from '../server/api';
import { EventEmitter } from 'node:events';
import { counter } from '../state/counter';
export const captured = client(() => { const e = new EventEmitter({ captureRejections: true }); e.on('x', async () => { throw new Error('captured rejection'); }); e.emit('x'); return 'emitted'; });
export const later = client(() => { process.nextTick(() => { throw new Error('nextTick throw'); }); return 'queued'; });
export const micro = client(() => { queueMicrotask(() => { throw new Error('microtask throw'); }); return 'queued'; });
export const immediate = client(() => { setImmediate(() => { throw new Error('immediate throw'); }); return 'queued'; });
export const listen = client(() => { try { process.on('uncaughtException', () => undefined); return 'listening'; } catch (err) { return (err as { code?: string }).code; } });
export const bump = client(() => counter.update((d) => { d.n++; }).n);
`,
  }, async (c, server, project) => {
    expect(await c.call('oops.listen')).toBe('LOGIC_FORBIDDEN');
    let n = 0;
    for (const what of ['captured', 'later', 'micro', 'immediate']) {
      await c.call(`oops.${what}`);
      // Still serving after each: the throw came and went.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await c.call('oops.bump')).toBe(++n);
    }
    expect(server.output()).toMatch(/captured rejection/);
    expect(server.output()).toMatch(/logic\/oops\.ts.*nextTick throw|nextTick throw[\s\S]*logic\/oops\.ts/);
    c.close();
    expect(await server.stop()).toBe(0);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n: 4 });
  });
}, 60_000);

it('a once() listener runs once when its event is emitted again from a listener; removeListener hands logic its own function; errorMonitor hears an error first; process.env is read, not written', async () => {
  const { host } = await openHost({
    'logic/m.ts': `import { errorMonitor } from 'node:events';
export function reentrant() {
  let again = false;
  let runs = 0;
  process.on('rebind-re' as never, function (this: any) { if (!again) { again = true; this.emit('rebind-re'); } } as never);
  process.once('rebind-re' as never, (() => { runs++; }) as never);
  process.emit('rebind-re' as never);
  return runs;
}
export function removal() {
  const f = () => undefined;
  const g = () => undefined;
  let told: unknown;
  process.on('removeListener' as never, ((ev: unknown, fn: unknown) => { if (ev === 'rebind-two') told = fn; }) as never);
  process.on('rebind-two' as never, f);
  process.on('rebind-two' as never, g);
  process.off('rebind-two' as never, f);
  return told === f;
}
export function monitored() {
  const heard: string[] = [];
  process.on(errorMonitor as never, (() => heard.push('monitor')) as never);
  process.on('error' as never, (() => heard.push('error')) as never);
  process.emit('error' as never, new Error('x') as never);
  return heard;
}
export function env() {
  const read = typeof process.env.PATH;
  try { process.env.TZ = 'Asia/Tokyo'; return 'written'; } catch (err) { return read + ' ' + (err as { code?: string }).code; }
}
`,
  });
  expect(host.call('m.reentrant')).toBe(1);
  expect(host.call('m.removal')).toBe(true);
  expect(host.call('m.monitored')).toEqual(['monitor', 'error']);
  const tz = process.env.TZ;
  expect(host.call('m.env')).toBe('string LOGIC_FORBIDDEN');
  expect(process.env.TZ).toBe(tz);
});

it('node:events once() and on() with a signal of logic\'s own settle as Node\'s do: resolved, aborted by that signal, broken out of', async () => {
  const { host } = await openHost({
    'logic/m.ts': `import { EventEmitter, once, on } from 'node:events';
export async function run() {
  const bus = new EventEmitter();
  const own = new AbortController();
  setImmediate(() => bus.emit('x', 1));
  const [got] = await once(bus, 'x', { signal: own.signal });
  const aborting = new AbortController();
  setImmediate(() => aborting.abort(new Error('mine')));
  let aborted = '';
  try { await once(bus, 'never', { signal: aborting.signal }); } catch (err) { aborted = (err as Error).name + ' ' + ((err as { cause?: Error }).cause?.message ?? ''); }
  setImmediate(() => { bus.emit('y', 'a'); bus.emit('y', 'b'); });
  const seen: unknown[] = [];
  for await (const [v] of on(bus, 'y', { signal: own.signal })) { seen.push(v); if (seen.length === 2) break; }
  return [got, aborted, seen, bus.listenerCount('x') + bus.listenerCount('y') + bus.listenerCount('error')];
}
`,
  });
  expect(await host.call('m.run')).toEqual([1, 'AbortError mine', ['a', 'b'], 0]);
});

it("throws nothing catches, from outside the server's code or unreadable, are logged and the server goes on: a package's timer, an fs callback's error, a stack getter that throws, objects with no prototype; an admin call whose result cannot be encoded gets a coded error (a real server)", async () => {
  await withGameProcess({
    'node_modules/boom/package.json': JSON.stringify({ name: 'boom', version: '1.0.0', main: 'index.js' }),
    'node_modules/boom/index.js': "exports.later = () => setTimeout(() => { throw new Error('package bug'); }, 10);\n",
    'logic/uses.ts': `import { client } from '../server/api';
import { readFile } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { later } from 'boom';
import { counter } from '../state/counter';
const evil = () => { const e = new Error('evil'); Object.defineProperty(e, 'stack', { get() { throw e; } }); return e; };
export const bump = client(() => counter.update((d) => { d.n++; }).n);
export const fuse = client((ctx: unknown, what: string) => {
  if (what === 'package') later();
  if (what === 'fs') readFile('/no/such/file/here', (err) => { if (err) throw err; });
  if (what === 'stack-timer') setTimeout(() => { throw evil(); }, 0);
  if (what === 'stack-callback') randomBytes(4, () => { throw evil(); });
  if (what === 'stack-rejection') void Promise.reject(evil());
  if (what === 'null-timer') setTimeout(() => { throw Object.create(null); }, 0);
  if (what === 'null-rejection') void Promise.reject(Object.create(null));
  if (what === 'string-callback') randomBytes(4, () => { throw 'a string'; });
  return 'lit';
});
export function unencodable() { return { get x() { throw Object.create(null); } }; }
`,
  }, async (c, server) => {
    let n = 0;
    for (const what of ['package', 'fs', 'stack-timer', 'stack-callback', 'stack-rejection', 'null-timer', 'null-rejection', 'string-callback']) {
      expect(await c.call('uses.fuse', what), what).toBe('lit');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await c.call('uses.bump'), what).toBe(++n);
    }
    expect(server.output()).toMatch(/package bug/);
    expect(server.output()).not.toMatch(/in the server \(uncaughtException\): stopping/);
    const admin = await runCli(['call', 'uses.unencodable', '--json', '--server', server.adminUrl, '--token', ADMIN_TOKEN]);
    expect(admin.code).not.toBe(0);
    expect(admin.stdout + admin.stderr).toMatch(/HANDLER_ERROR|could not be encoded/);
    expect(await c.call('uses.bump')).toBe(++n);
    c.close();
    expect(await server.stop()).toBe(0);
  });
}, 60_000);

it('a throw in a callback that an init queued does not stop a starting server (it would, at every restart)', async () => {
  await withGameProcess({
    'logic/early.ts': `import { randomBytes } from 'node:crypto';
import { counter } from '../state/counter';
export function init() { randomBytes(4, () => { throw new Error('early bug'); }); }
export function bump() { return counter.update((d) => { d.n++; }).n; }
`,
  }, async (c, server) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.output()).toMatch(/early bug/);
    c.close();
    expect(await server.stop()).toBe(0);
  });
}, 60_000);

it("an uncaught exception is the server's when a frame of its own code is on the stack, else logic's or from elsewhere", () => {
  const at = (frame: string) => Object.assign(new Error('x'), { stack: `Error: x\n    at f (${frame})\n    at node:internal/timers:581:17` });
  expect(whoThrew(at('/opt/game/node_modules/rebind/server/net/rooms.ts:10:5'), '/opt/game/node_modules/rebind/server/')).toEqual({ from: 'server' });
  expect(whoThrew(at('/opt/game/node_modules/boom/index.js:1:48'), '/opt/game/node_modules/rebind/server/')).toEqual({ from: 'elsewhere' });
  expect(whoThrew('a string', '/srv/')).toEqual({ from: 'elsewhere' });
  expect(whoThrew(Object.create(null), '/srv/')).toEqual({ from: 'elsewhere' });
  const evil = new Error('evil');
  Object.defineProperty(evil, 'stack', { get: () => { throw evil; } });
  expect(whoThrew(evil, '/srv/')).toEqual({ from: 'elsewhere' });
});

it('a timer that throws every millisecond writes one log line per 5 s, not one per throw (a real server)', async () => {
  await withGameProcess({ 'logic/storm.ts': `export function init() { setInterval(() => { throw new Error('storm in a teacup'); }, 1); }\nexport function v() { return 1; }\n` }, async (c, server) => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const lines = server.output().split('\n').filter((line) => line.includes('storm in a teacup'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    c.close();
    expect(await server.stop()).toBe(0);
  });
}, 60_000);
