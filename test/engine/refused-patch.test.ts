import { expect, it } from 'vitest';
import { COUNTER_STATE } from '../helpers/project.ts';
import { openHost, valueOf } from './hosts.ts';

// A refused patch leaves nothing behind: no write from a module's top level,
// none from an init, and no version number used up.

const good = (v: number) => `export function v() { return ${v}; }\n`;

it('throws away a top-level store write when a later init refuses the patch', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  project.write(
    'logic/m.ts',
    `import { counter } from '../state/counter';
counter.update((d) => { d.n = 999; });
export function init() { throw new Error('init refuses'); }
export function v() { return 2; }
`,
  );
  const record = await host.patch(['m']);
  expect(record.ok).toBe(false);
  expect(record.error!.code).toBe('PATCH_INIT_ERROR');
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(0);
  expect(host.call('m.v')).toBe(1);
});

it('does not use up version numbers on refused patches', async () => {
  const { host, project } = await openHost({ 'logic/m.ts': good(1) });
  project.write('logic/m.ts', `export function init() { throw new Error('no'); }\nexport function v() { return 2; }\n`);
  expect((await host.patch(['m'])).ok).toBe(false);
  project.write('logic/m.ts', `export const v = () => ;\n`);
  expect((await host.patch(['m'])).ok).toBe(false);
  project.write('logic/m.ts', good(3));
  const record = await host.patch(['m']);
  expect(record.modules[0]).toMatchObject({ module: 'm', oldVersion: 1, newVersion: 2 });
  expect(host.status().modules[0]!.version).toBe(2);
  expect(host.call('m.v')).toBe(3);
});

it('refuses writes that a refused version queued as promise callbacks, microtasks, ticks or immediates', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  project.write(
    'logic/m.ts',
    `import { counter } from '../state/counter';
Promise.resolve().then(() => counter.update((d) => { d.n = 999; d.log.push('promise'); }));
queueMicrotask(() => counter.update((d) => { d.log.push('microtask'); }));
(async () => { await null; await null; counter.update((d) => { d.log.push('async'); }); })();
setImmediate(() => counter.update((d) => { d.log.push('immediate'); }));
process.nextTick(() => counter.update((d) => { d.log.push('nextTick'); }));
setTimeout(() => counter.update((d) => { d.log.push('timeout'); }), 0);
export function v() { return 2; }
export function init() { throw new Error('init refuses this patch'); }
`,
  );
  const record = await host.patch(['m']);
  expect(record.ok).toBe(false);
  expect(record.error!.code).toBe('PATCH_INIT_ERROR');
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(valueOf<{ n: number; log: string[] }>(host, 'counter')).toEqual({ n: 0, log: [] });
  expect(host.call('m.v')).toBe(1);
  // The server's own writes still work after the refusal.
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function bump() { return counter.update((d) => { d.n++; }).n; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  expect(host.call('m.bump')).toBe(1);
});

it('lets a version that was accepted write from its queued callbacks', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nPromise.resolve().then(() => counter.update((d) => { d.log.push('later'); }));\nexport function v() { return 2; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['later']);
});

it('drops what a refused init queued for players (ctx.send, ctx.broadcast, ctx.setRoomView, ctx.join), and lets an accepted one through', async () => {
  const { host, project } = await openHost({ 'logic/m.ts': good(1) });
  const said: string[] = [];
  host.outbox = {
    send: (player, event) => void said.push(`send ${player} ${event}`),
    broadcast: (room, event) => void said.push(`broadcast ${room} ${event}`),
    join: (room, player) => void said.push(`join ${room} ${player}`),
    leave: (room, player) => void said.push(`leave ${room} ${player}`),
    setRoomView: (room) => void said.push(`view ${room}`),
  };
  const module = (tag: string, refuse: boolean) => `import type { Ctx } from '../server/api';
export function init(ctx: Ctx) {
  Promise.resolve().then(() => {
    ctx.send('p1', 'late-${tag}', {});
    ctx.broadcast('arena', 'late-${tag}', {});
    ctx.setRoomView('arena', {});
    ctx.join('arena', 'p1');
    ctx.leave('arena', 'p1');
  });
  ${refuse ? "throw new Error('init refuses');" : ''}
}
export function v() { return 2; }
`;
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(said).toEqual([]);
  project.write('logic/m.ts', module('accepted', false));
  expect((await host.patch(['m'])).ok).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(said).toEqual(['send p1 late-accepted', 'broadcast arena late-accepted', 'view arena', 'join arena p1', 'leave arena p1']);
});

it('drops what a refused version writes from a listener it added on process, when the event comes later; an accepted version writes', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1), 'logic/warn.ts': `export function emit(ctx: unknown, tag: string) { process.emit('rebind-test-event' as never, tag as never); }\n` });
  const module = (tag: string, refuse: boolean) => `import { counter } from '../state/counter';
const listener = () => counter.update((d) => { d.log.push('${tag}'); });
process.on('rebind-test-event' as never, listener);
export function off() { process.off('rebind-test-event' as never, listener); }
export function v() { return 2; }
${refuse ? "export function init() { throw new Error('init refuses'); }" : ''}
`;
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  host.call('warn.emit', 'a');
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual([]);
  project.write('logic/m.ts', module('accepted', false));
  expect((await host.patch(['m'])).ok).toBe(true);
  host.call('warn.emit', 'b');
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['accepted']);
  // Removed by the function it was added with.
  host.call('m.off');
  host.call('warn.emit', 'c');
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['accepted']);
});

it('a once() listener a version adds on process runs once, and off() with its own function removes it before it runs', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1), 'logic/warn.ts': `export function emit(ctx: unknown) { process.emit('rebind-once-event' as never); }\n` });
  const module = (tag: string) => `import { counter } from '../state/counter';
const listener = () => counter.update((d) => { d.log.push('${tag}'); });
process.once('rebind-once-event' as never, listener);
export function off() { process.off('rebind-once-event' as never, listener); }
export function v() { return 2; }
`;
  project.write('logic/m.ts', module('once'));
  expect((await host.patch(['m'])).ok).toBe(true);
  host.call('warn.emit');
  host.call('warn.emit');
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['once']);
  project.write('logic/m.ts', module('removed'));
  expect((await host.patch(['m'])).ok).toBe(true);
  host.call('m.off');
  host.call('warn.emit');
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['once']);
});

it('a FinalizationRegistry a refused version made does nothing when its objects are collected; an accepted one writes', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  const module = (tag: string, refuse: boolean) => `import { counter } from '../state/counter';
const registry = new FinalizationRegistry(() => counter.update((d) => { d.log.push('${tag}'); }));
for (let i = 0; i < 20; i++) registry.register({ i }, i);
// Kept alive past the module's own life, as a registry kept anywhere would be.
process.on('rebind-keep-registry' as never, () => registry);
export function v() { return 2; }
${refuse ? "export function init() { throw new Error('init refuses'); }" : ''}
`;
  const collect = async () => {
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  await collect();
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual([]);
  project.write('logic/m.ts', module('accepted', false));
  expect((await host.patch(['m'])).ok).toBe(true);
  await collect();
  expect(valueOf<{ log: string[] }>(host, 'counter').log.length).toBeGreaterThan(0);
  expect(new Set(valueOf<{ log: string[] }>(host, 'counter').log)).toEqual(new Set(['accepted']));
});

it("a replaced version's listeners on process are removed: after three patches only the newest runs, through process, globalThis.process and require('process') alike", async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1), 'logic/warn.ts': `export function emit(ctx: unknown) { process.emit('rebind-replaced-event' as never); }\n` });
  // Counted here, by the host: a module sees only its own listeners.
  const count = () => process.listenerCount('rebind-replaced-event' as never);
  const module = (tag: string) => `import { counter } from '../state/counter';
import nodeProcess from 'process';
const write = (how: string) => () => counter.update((d) => { d.log.push('${tag} ' + how); });
process.on('rebind-replaced-event' as never, write('free name'));
globalThis.process.prependListener('rebind-replaced-event' as never, write('globalThis'));
nodeProcess.once('rebind-replaced-event' as never, write('require'));
export function v() { return 2; }
`;
  for (const tag of ['v2', 'v3', 'v4']) {
    project.write('logic/m.ts', module(tag));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  expect(count()).toBe(3);
  host.call('warn.emit');
  expect([...valueOf<{ log: string[] }>(host, 'counter').log].sort()).toEqual(['v4 free name', 'v4 globalThis', 'v4 require']);
  // A refused version's listeners go at once too.
  project.write('logic/m.ts', `${module('refused')}\nexport function init() { throw new Error('init refuses'); }\n`);
  expect((await host.patch(['m'])).ok).toBe(false);
  expect(count()).toBe(2);
});

it('a call still running on a replaced version adds no listener on process when it goes on after the patch', async () => {
  const { host, project } = await openHost({ 'logic/m.ts': good(1) });
  project.write('logic/m.ts', `export async function later() { await new Promise((resolve) => setTimeout(resolve, 100)); process.on('rebind-late-event' as never, () => undefined); return 'done'; }\nexport function v() { return 2; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  const running = host.call('m.later') as Promise<unknown>;
  project.write('logic/m.ts', `export function v() { return 3; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  expect(await running).toBe('done');
  expect(process.listenerCount('rebind-late-event' as never)).toBe(0);
});

it('after a refused patch has nothing queued left, the server stops carrying patch attempts along (they cost a hook at every socket write)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  const { carryingAttempts } = await import('../../server/store/transaction.ts');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function init() { setTimeout(() => counter.update((d) => { d.log.push('late'); }), 50); throw new Error('init refuses'); }\n`);
  expect((await host.patch(['m'])).ok).toBe(false);
  expect(carryingAttempts()).toBe(true);
  for (let i = 0; i < 20 && carryingAttempts(); i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(carryingAttempts()).toBe(false);
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual([]);
});

it("removeAllListeners from logic removes only that version's own listeners on process, never the host's or another module's", async () => {
  // Every listener this process has, to put back whatever happens: a logic call that reached the real
  // removeAllListeners() would take the test runner's own with it.
  const snapshot = () => new Map(process.eventNames().map((event) => [event, process.rawListeners(event as never)]));
  const before = snapshot();
  const hostListener = () => undefined;
  process.on('rebind-host-event' as never, hostListener);
  try {
    const { host, project } = await openHost({ 'logic/other.ts': `process.on('rebind-host-event' as never, () => undefined);\nexport function v() { return 1; }\n` });
    const count = () => process.listenerCount('rebind-host-event' as never);
    const tidy = (tag: string) => `process.on('rebind-host-event' as never, () => '${tag}');
export function dispose() { process.removeAllListeners('rebind-host-event' as never); process.removeAllListeners(); }
export function v() { return '${tag}'; }
`;
    project.write('logic/tidy.ts', tidy('v1'));
    expect((await host.patch(['tidy'])).ok).toBe(true);
    expect(count()).toBe(3);
    const others = [...snapshot()].filter(([event]) => event !== 'rebind-host-event');
    project.write('logic/tidy.ts', tidy('v2'));
    expect((await host.patch(['tidy'])).ok).toBe(true);
    // The host's, the other module's and v2's: v1's dispose took only its own, of this event and of any other.
    expect(count()).toBe(3);
    expect(process.listeners('rebind-host-event' as never)).toContain(hostListener);
    expect([...snapshot()].filter(([event]) => event !== 'rebind-host-event')).toEqual(others);
  } finally {
    process.off('rebind-host-event' as never, hostListener);
    for (const [event, listeners] of before) for (const listener of listeners) if (!process.rawListeners(event as never).includes(listener)) process.on(event as never, listener as never);
  }
});

it('intervals and timers a version starts through node:timers and node:timers/promises stop when it is replaced', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  const module = (tag: string) => `import { counter } from '../state/counter';
import { setInterval as every } from 'node:timers';
import { setInterval as ticks, setTimeout as later } from 'node:timers/promises';
export function init() {
  every(() => counter.update((d) => { d.log.push('${tag} timers'); }), 20);
  void (async () => {
    try {
      for await (const _ of ticks(20)) counter.update((d) => { d.log.push('${tag} promises'); });
    } catch {
      // Aborted when the version is replaced.
    }
  })();
  void later(30).then(() => counter.update((d) => { d.log.push('${tag} timeout'); }), () => undefined);
}
export function v() { return '${tag}'; }
`;
  for (const tag of ['v2', 'v3', 'v4']) {
    project.write('logic/m.ts', module(tag));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  await new Promise((resolve) => setTimeout(resolve, 150));
  const writers = () => new Set(valueOf<{ log: string[] }>(host, 'counter').log.slice(-8));
  // A while after the last patch, only the newest version's intervals still write.
  expect([...writers()].sort()).toEqual(['v4 promises', 'v4 timers']);
});

it('a version awaiting many node:timers/promises timers at once gets them all, with no leak warning', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const { host, project } = await openHost({ 'logic/m.ts': good(1) });
    project.write('logic/m.ts', `import { setTimeout as later } from 'node:timers/promises';\nexport async function many() { const all = await Promise.all(Array.from({ length: 30 }, (_, i) => later(5, i))); return all.length; }\nexport function v() { return 2; }\n`);
    expect((await host.patch(['m'])).ok).toBe(true);
    expect(await host.call('m.many')).toBe(30);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((name) => name === 'MaxListenersExceededWarning')).toEqual([]);
  } finally {
    process.off('warning', onWarning);
  }
});

it("diagnostics_channel subscriptions belong to their version: a refused one's write nothing, a replaced one's are removed, unsubscribe works", async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1), 'logic/pub.ts': `import dc from 'node:diagnostics_channel';\nexport function publish() { dc.channel('rebind-test-channel').publish('hi'); }\n` });
  const module = (tag: string, refuse: boolean) => `import { counter } from '../state/counter';
import dc, { subscribe } from 'node:diagnostics_channel';
const write = (how: string) => () => counter.update((d) => { d.log.push('${tag} ' + how); });
const byChannel = write('channel');
subscribe('rebind-test-channel', write('subscribe'));
dc.channel('rebind-test-channel').subscribe(byChannel);
export function stop() { dc.channel('rebind-test-channel').unsubscribe(byChannel); }
export function v() { return '${tag}'; }
${refuse ? "export function init() { throw new Error('init refuses'); }" : ''}
`;
  const log = () => [...valueOf<{ log: string[] }>(host, 'counter').log];
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  host.call('pub.publish');
  expect(log()).toEqual([]);
  for (const tag of ['v3', 'v4', 'v5']) {
    project.write('logic/m.ts', module(tag, false));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  host.call('pub.publish');
  expect(log().sort()).toEqual(['v5 channel', 'v5 subscribe']);
  host.call('m.stop');
  host.call('pub.publish');
  expect(log().sort()).toEqual(['v5 channel', 'v5 subscribe', 'v5 subscribe']);
});

it('a listener on process or a diagnostics channel subscriber that throws is reported, and the server goes on', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': good(1) });
  project.write('logic/m.ts', `import dc from 'node:diagnostics_channel';
import { counter } from '../state/counter';
process.on('rebind-throwing-event' as never, () => { throw new Error('listener bug'); });
dc.subscribe('rebind-throwing-channel', () => { throw new Error('subscriber bug'); });
export function fire() { dc.channel('rebind-throwing-channel').publish('x'); counter.update((d) => { d.log.push('after'); }); }
export function v() { return 2; }
`);
  expect((await host.patch(['m'])).ok).toBe(true);
  // Emitted by the host (as Node emits a signal): the throw would be an uncaught exception. (Logic's own emit gets the throw back, as from Node's: logic-scope.test.ts.)
  expect(process.emit('rebind-throwing-event' as never)).toBe(true);
  host.call('m.fire');
  // Still serving, the call finished, and nothing waits to be thrown on a later tick.
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(valueOf<{ log: string[] }>(host, 'counter').log).toEqual(['after']);
  expect(host.call('m.v')).toBe(2);
});
