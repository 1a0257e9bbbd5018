import { expect, it } from 'vitest';
import { Host } from '../../server/host.ts';
import { TickLoop } from '../../server/tick.ts';
import { COUNTER_STATE, TempProject } from '../helpers/project.ts';
import { openHost, valueOf } from './hosts.ts';

// Game logic is trusted, but a mistake in it must not stop the host.

const LIMIT = { timeLimitMs: 300 };
const realSetTimeout = globalThis.setTimeout;
const pause = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));

it('refuses a patch whose top level never ends, with the file, and keeps serving', async () => {
  const { host, project } = await openHost({ 'logic/m.ts': `export function v() { return 1; }\n` }, LIMIT);
  project.write('logic/m.ts', `let i = 0;\nwhile (true) i++;\nexport function v() { return 2; }\n`);
  const t0 = performance.now();
  const record = await host.patch(['m']);
  expect(performance.now() - t0).toBeLessThan(10_000);
  expect(record.ok).toBe(false);
  expect(record.error).toMatchObject({ code: 'PATCH_TIME_LIMIT', module: 'm' });
  // No stack survives the stop: the message names the file and says the line is not known, rather than pointing at 1:1.
  expect(record.error!.location).toBeUndefined();
  expect(record.error!.message).toMatch(/^logic\/m\.ts: its top level ran for more than 300 ms .*the line is not known/);
  expect(host.call('m.v')).toBe(1);
});

it('refuses a patch whose init never ends, pointing at init, and leaves the transaction clean', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` }, LIMIT);
  project.write(
    'logic/m.ts',
    `import { counter } from '../state/counter';
export function v() { return 2; }

export function init() {
  counter.update((d) => { d.n = 5; });
  for (;;) {}
}
`,
  );
  const record = await host.patch(['m']);
  expect(record.error).toMatchObject({ code: 'PATCH_TIME_LIMIT', location: { file: 'logic/m.ts', line: 4 } });
  expect(record.error!.message).toContain('init of m ran for more than 300 ms');
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(0);
  // Writes after the stopped init commit normally: no transaction was left open.
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function bump() { return counter.update((d) => { d.n++; }).n; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  expect(host.call('m.bump')).toBe(1);
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(1);
});

it('keeps stores frozen and writable after logic was stopped inside an update recipe', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` }, LIMIT);
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function init() { counter.update((d) => { d.n = 3; for (;;) {} }); }\n`);
  expect((await host.patch(['m'])).error?.code).toBe('PATCH_TIME_LIMIT');
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function bump() { return counter.update((d) => { d.n++; d.log.push('x'); }).n; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  expect(host.call('m.bump')).toBe(1);
  expect(host.call('m.bump')).toBe(2);
  const value = valueOf<{ n: number; log: string[] }>(host, 'counter');
  expect(value).toEqual({ n: 2, log: ['x', 'x'] });
  expect(Object.isFrozen(value) && Object.isFrozen(value.log)).toBe(true);
});

it('starts without a module that hangs at start, serving the others and saying which was left out', async () => {
  const project = new TempProject({
    'logic/good.ts': `export function v() { return 'good'; }\n`,
    'logic/hang.ts': `export function init() { while (true) {} }\nexport function v() { return 'hang'; }\n`,
  });
  const host = await Host.open({ root: project.root, ...LIMIT });
  try {
    expect(host.call('good.v')).toBe('good');
    expect(host.status().modules.map((m) => m.name)).toEqual(['good']);
    expect(host.status().skippedAtStart).toEqual([expect.objectContaining({ module: 'hang', code: 'PATCH_TIME_LIMIT' })]);
    // Once fixed, the module comes in with an ordinary patch.
    project.write('logic/hang.ts', `export function v() { return 'fixed'; }\n`);
    expect((await host.patch()).ok).toBe(true);
    expect(host.call('hang.v')).toBe('fixed');
    expect(host.status().skippedAtStart).toEqual([]);
  } finally {
    await host.stop();
    project.cleanup();
  }
});

it('refuses process.exit and writes to the global object from logic, with a code', async () => {
  const { host } = await openHost({
    'logic/m.ts': `
import nodeProcess from 'node:process';
export function quit() { process.exit(0); }
export function quitImported() { nodeProcess.exit(0); }
export function quitGlobal() { globalThis.process.exit(0); }
export function setExitCode() { process.exitCode = 3; }
export function breakTimers() { globalThis.setTimeout = (() => 0) as never; }
export function breakGlobal() { (global as Record<string, unknown>).clearTimeout = () => 0; }
export function readsWork() { const listener = () => undefined; process.on('rebind-test', listener); process.off('rebind-test', listener); return typeof process.hrtime.bigint() === 'bigint' && process.pid > 0 && typeof globalThis.setTimeout === 'function'; }
`,
  });
  for (const name of ['m.quit', 'm.quitImported', 'm.quitGlobal', 'm.setExitCode', 'm.breakTimers', 'm.breakGlobal']) {
    expect(() => host.call(name), name).toThrow(expect.objectContaining({ code: 'LOGIC_FORBIDDEN' }));
  }
  expect(process.exitCode ?? 0).toBe(0);
  expect(globalThis.setTimeout).toBe(realSetTimeout);
  expect(host.call('m.readsWork')).toBe(true);
});

it('keeps the tick loop and durable timers running when the global timers are replaced', async () => {
  const { host } = await openHost({
    'state/counter.ts': COUNTER_STATE,
    'logic/m.ts': `import type { Ctx } from '../server/api';\nimport { counter } from '../state/counter';\nexport function later(ctx: Ctx) { ctx.schedule(50, 'm.fire'); }\nexport function fire() { counter.update((d) => { d.n++; }); }\n`,
  });
  let ticks = 0;
  const loop = new TickLoop(50, () => ticks++);
  loop.start();
  const saved = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  const dateNow = Date.now;
  try {
    // What a line of logic could do through a real reference to the global object.
    globalThis.setTimeout = (() => 0) as unknown as typeof setTimeout;
    globalThis.clearTimeout = (() => undefined) as typeof clearTimeout;
    Date.now = () => 0;
    host.call('m.later');
    const before = ticks;
    await pause(400);
    expect(ticks - before).toBeGreaterThan(5);
    expect(valueOf<{ n: number }>(host, 'counter').n).toBe(1);
  } finally {
    Object.assign(globalThis, saved);
    Date.now = dateNow;
    loop.stop();
  }
});

it('refuses an async init before it runs, so its awaits cannot spin past the time limit', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` }, LIMIT);
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function v() { return 2; }\nexport async function init() { counter.update((d) => { d.n = 1; }); for (;;) await null; }\n`);
  const record = await host.patch(['m']);
  expect(record.error).toMatchObject({ code: 'PATCH_INIT_ERROR', location: { file: 'logic/m.ts', line: 3 } });
  expect(record.error!.message).toContain('init must be synchronous');
  await pause(20); // the event loop is free: no microtask loop was started
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(0);
  expect(host.call('m.v')).toBe(1);
});

it('refuses a patch whose migration never ends, and keeps the data as it was', async () => {
  // 150 ms for a top level (migrations get ten times that): 30 ms was tight enough that a loaded
  // machine stopped the module's own top level first, which has no line to point at.
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` }, { timeLimitMs: 150 });
  project.write('logic/m.ts', `export function v() { return 2; }\nexport const migrations = { counter: { 1: (d: { n: number }) => { for (;;) d.n++; } } };\n`);
  const record = await host.patch(['m']);
  expect(record.error).toMatchObject({ code: 'PATCH_TIME_LIMIT', location: { file: 'logic/m.ts', line: 2 } });
  expect(record.error!.message).toContain('the migrations ran for more than 1500 ms');
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(0);
  expect(host.registry.get('counter').version).toBe(1);
  expect(host.call('m.v')).toBe(1);
});
