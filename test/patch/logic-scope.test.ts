import * as nodeTimerPromises from 'node:timers/promises';
import { expect, it } from 'vitest';
import { openHost, valueOf } from '../engine/hosts.ts';
import { lastSnapshotOf, withGameProcess } from '../helpers/game-process.ts';
import { COUNTER_STATE } from '../helpers/project.ts';

// What a module version sees of `process` (logic-scope.ts, logic-process.ts): its own listeners
// only, an emit that reaches logic's listeners only, and its own built-ins however it asks for them.

const log = (host: Parameters<typeof valueOf>[0]) => [...valueOf<{ log: string[] }>(host, 'counter').log];

it("a real server still stops cleanly on SIGTERM (exit 0, final snapshot) after logic tried to remove the server's listeners and emitted its signals", async () => {
  await withGameProcess({
    'logic/rogue.ts': `import { client } from '../server/api';
import { counter } from '../state/counter';
const EVENTS = ['SIGTERM', 'SIGINT', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection'];
export const strip = client(() => {
  const nodeProcess = (process as any).getBuiltinModule('node:process');
  for (const p of [process, nodeProcess]) {
    for (const event of [...EVENTS, ...p.eventNames()]) {
      for (const listener of [...p.listeners(event), ...p.rawListeners(event)]) { p.off(event, listener); p.removeListener(event, listener); }
    }
  }
  return EVENTS.map((event) => process.listenerCount(event as never));
});
export const shout = client(() => [
  process.emit('SIGTERM' as never),
  process.emit('SIGINT' as never),
  process.emit('beforeExit' as never, 0 as never),
  process.emit('exit' as never, 0 as never),
  process.emit('uncaughtException' as never, new Error('made up') as never),
  process.emit('unhandledRejection' as never, new Error('made up') as never, Promise.resolve() as never),
]);
export const bump = client(() => counter.update((d) => { d.n++; }).n);
`,
  }, async (c, server, project) => {
    // No listener of logic's own: none ran, and the server's were not reached.
    expect(await c.call('rogue.shout')).toEqual([false, false, false, false, false, false]);
    expect(await c.call('rogue.bump')).toBe(1);
    expect(await c.call('rogue.strip')).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await c.call('rogue.bump')).toBe(2);
    c.close();
    expect(await server.stop()).toBe(0);
    expect(server.output()).toMatch(/SIGTERM: closing clients and stopping/);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n: 2 });
  });
}, 60_000);

it("listeners, rawListeners, listenerCount and eventNames show a version only its own; off with another's function is a no-op", async () => {
  const hostListener = () => undefined;
  process.on('rebind-seen' as never, hostListener);
  try {
    const { host } = await openHost({
      'logic/other.ts': `process.on('rebind-seen' as never, () => 'other');\nexport function v() { return 1; }\n`,
      'logic/m.ts': `const a = () => 'a';
const b = () => 'b';
process.on('rebind-seen' as never, a);
process.prependOnceListener('rebind-seen' as never, b);
export function report() {
  const raw = process.rawListeners('rebind-seen' as never) as any[];
  return {
    listeners: process.listeners('rebind-seen' as never).map((f) => (f === a ? 'a' : f === b ? 'b' : 'foreign')),
    raw: raw.map((f) => (f === a ? 'a' : f !== b && f.listener === b ? 'once b' : 'foreign')),
    count: process.listenerCount('rebind-seen' as never),
    countA: (process.listenerCount as any)('rebind-seen', a),
    names: process.eventNames(),
    sigterm: process.listeners('SIGTERM' as never).length,
  };
}
export function offThis(ctx: unknown, fn: () => void) { process.off('rebind-seen' as never, fn); process.removeListener('rebind-seen' as never, fn); }
export function offMine() { process.off('rebind-seen' as never, a); return process.listenerCount('rebind-seen' as never); }
`,
    });
    expect(host.call('m.report')).toEqual({ listeners: ['b', 'a'], raw: ['once b', 'a'], count: 2, countA: 1, names: ['rebind-seen'], sigterm: 0 });
    host.call('m.offThis', hostListener);
    expect(process.listeners('rebind-seen' as never)).toContain(hostListener);
    expect(process.listenerCount('rebind-seen' as never)).toBe(4);
    expect(host.call('m.offMine')).toBe(1);
    expect(process.listenerCount('rebind-seen' as never)).toBe(3);
  } finally {
    process.off('rebind-seen' as never, hostListener);
  }
});

it("process.emit from logic reaches every live module's listeners and never the host's, returning whether one ran", async () => {
  const heard: unknown[] = [];
  const hostListener = (arg: unknown) => heard.push(arg);
  process.on('rebind-talk' as never, hostListener);
  process.on('rebind-host-only' as never, hostListener);
  try {
    const { host } = await openHost({
      'state/counter.ts': COUNTER_STATE,
      'logic/ear.ts': `import { counter } from '../state/counter';\nprocess.once('rebind-talk' as never, ((what: string) => counter.update((d) => { d.log.push('heard ' + what); })) as never);\nexport function v() { return 1; }\n`,
      'logic/mouth.ts': `export function say(ctx: unknown, what: string) { return [process.emit('rebind-talk' as never, what as never), process.emit('rebind-host-only' as never, what as never)]; }
export function fail() { try { process.emit('error' as never, new Error('nobody listens') as never); return 'no throw'; } catch (err) { return (err as Error).message; } }
`,
    });
    expect(host.call('mouth.say', 'hello')).toEqual([true, false]);
    expect(log(host)).toEqual(['heard hello']);
    // The once() listener is gone: nothing of logic's listens any more.
    expect(host.call('mouth.say', 'again')).toEqual([false, false]);
    expect(heard).toEqual([]);
    expect(host.call('mouth.fail')).toBe('nobody listens');
  } finally {
    process.off('rebind-talk' as never, hostListener);
    process.off('rebind-host-only' as never, hostListener);
  }
});

it("process.getBuiltinModule gives the version's own process, timers, timers/promises and diagnostics_channel, and Node's for the rest", async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/pub.ts': `import dc from 'node:diagnostics_channel';\nexport function fire() { dc.channel('rebind-builtin-channel').publish('x'); process.emit('rebind-builtin-event' as never); }\n` });
  const module = (tag: string) => `import { counter } from '../state/counter';
import { readFileSync } from 'node:fs';
const get = (process as any).getBuiltinModule as (id: string) => any;
const write = (how: string) => () => counter.update((d) => { d.log.push('${tag} ' + how); });
export function init() {
  get('node:timers').setInterval(write('timers'), 20);
  void (async () => { try { for await (const _ of get('timers/promises').setInterval(20)) write('promises')(); } catch {} })();
  get('diagnostics_channel').subscribe('rebind-builtin-channel', write('channel'));
  get('process').on('rebind-builtin-event', write('process'));
}
export function same() { return [get('node:process') === process, get('process') === process, get('node:fs').readFileSync === readFileSync, get('timers') === get('node:timers')]; }
export function v() { return '${tag}'; }
`;
  for (const tag of ['v1', 'v2', 'v3']) {
    project.write('logic/m.ts', module(tag));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  expect(host.call('m.same')).toEqual([true, true, true, true]);
  await new Promise((resolve) => setTimeout(resolve, 150));
  host.call('pub.fire');
  const writers = new Set(log(host).slice(-12));
  expect([...writers].sort()).toEqual(['v3 channel', 'v3 process', 'v3 promises', 'v3 timers']);
});

// Each case as text, run both by logic (its node:timers/promises) and here (Node's own).
const TIMER_CASES = `[
  () => t.setTimeout(1, 'v', 'a string'),
  () => t.setTimeout(1, 'v', null),
  () => t.setTimeout(1, 'v', { signal: 'not a signal' }),
  () => t.setTimeout(1, 'v', { signal: null }),
  () => t.setTimeout(1, 'v', { ref: 'yes' }),
  () => t.setTimeout(1, 'v', { signal: AbortSignal.abort() }),
  () => t.setTimeout(1, 'v', {}),
  () => t.setImmediate('v', 7),
  () => t.setImmediate('v', { signal: {} }),
  () => t.setInterval(1, 'v', 'a string').next(),
  () => t.setInterval(1, 'v', { signal: 5 }).next(),
  () => t.scheduler.wait(1, 'a string'),
  () => t.scheduler.wait(1, { signal: 'no' }),
]`;
const OUTCOMES = `async (t) => {
  const out = [];
  for (const run of ${TIMER_CASES}) {
    let settles;
    try {
      settles = run();
    } catch (err) {
      out.push('threw ' + (err && (err.code || err.name)));
      continue;
    }
    try {
      out.push('resolved ' + JSON.stringify(await settles));
    } catch (err) {
      out.push('rejected ' + (err && (err.code || err.name)));
    }
  }
  return out;
}`;

it('node:timers/promises in logic settles as Node\'s own does for options Node refuses (rejects, never throws at the call)', async () => {
  const { host } = await openHost({ 'logic/m.ts': `import * as t from 'node:timers/promises';\nconst outcomes: (t: unknown) => Promise<string[]> = ${OUTCOMES};\nexport function probe() { return outcomes(t); }\n` });
  const node = (await (new Function(`return ${OUTCOMES}`)() as (t: unknown) => Promise<string[]>)(nodeTimerPromises));
  expect(node).toContain('rejected ERR_INVALID_ARG_TYPE');
  expect(await host.call('m.probe')).toEqual(node);
});
