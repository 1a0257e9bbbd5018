import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { COUNTER_STATE } from '../helpers/project.ts';
import { startServer } from '../helpers/server.ts';
import { openHost, valueOf } from './hosts.ts';

// Logic's writes of globals and built-ins do not reach what the host uses.

const realSetImmediate = globalThis.setImmediate;
const realQueueMicrotask = globalThis.queueMicrotask;
const realPush = Array.prototype.push;
const realMapGet = Map.prototype.get;

it('keeps bare writes of setImmediate and queueMicrotask in the module, refuses writes to Date, performance and JSON, and runs logic strict', async () => {
  const { host } = await openHost({
    'logic/m.ts': `
export function shim() { // @ts-ignore
  setImmediate = (() => 0) as any; // @ts-ignore
  queueMicrotask = (() => undefined) as any;
  return typeof setImmediate(() => 0);
}
export function dateNow() { Date.now = () => 0; return 'no'; }
export function perfNow() { performance.now = () => 0; return 'no'; }
export function json() { JSON.stringify = (() => 'x') as any; return 'no'; }
export function viaGlobal() { (globalThis as any).Date.now = () => 0; return 'no'; }
export function typo() { // @ts-ignore
  score = 5; return 'no'; }
export function plainThis() { return (function (this: unknown) { return this === undefined; })(); }
export function now() { return [typeof Date.now(), typeof performance.now(), new Date(0) instanceof Date, JSON.stringify({ a: 1 })]; }
`,
  });
  expect(host.call('m.shim')).toBe('number');
  expect(globalThis.setImmediate).toBe(realSetImmediate);
  expect(globalThis.queueMicrotask).toBe(realQueueMicrotask);
  for (const name of ['m.dateNow', 'm.perfNow', 'm.json', 'm.viaGlobal']) {
    expect(() => host.call(name), name).toThrow(expect.objectContaining({ code: 'LOGIC_FORBIDDEN' }));
  }
  expect(Date.now()).toBeGreaterThan(1e12);
  expect(JSON.stringify({ a: 1 })).toBe('{"a":1}');
  expect(() => host.call('m.typo')).toThrow(/score is not defined/);
  expect((globalThis as { score?: unknown }).score).toBeUndefined();
  expect(host.call('m.plainThis')).toBe(true);
  expect(host.call('m.now')).toEqual(['number', 'number', true, '{"a":1}']);
});

it('keeps a real server writing, syncing and stopping with its snapshot after a handler assigns setImmediate', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'rebind-globals-'));
  const files = {
    'state/counter.ts': `import { defineStore } from '../server/api';\nexport const counter = defineStore('counter', { n: 0 });\n`,
    'logic/m.ts': `import { client, type Ctx } from '../server/api';
import { counter } from '../state/counter';
export const bump = client((ctx: Ctx) => counter.update((d) => { d.n++; }).n);
export const go = client((ctx: Ctx) => { // @ts-ignore
  setImmediate = (() => 0) as any; return 'done'; });
`,
  };
  const ts = await startServer(files, { dataDir, fsync: 'always' });
  try {
    const c = new RebindClient(ts.url);
    await c.connect();
    await c.join({ name: 'a' });
    expect(await c.call('m.bump', {})).toBe(1);
    expect(await c.call('m.go', {})).toBe('done');
    expect(await c.call('m.bump', {})).toBe(2);
    expect(await c.call('m.bump', {})).toBe(3);
    c.close();
    await ts.server.stop();
    const again = await GameServer.start({ root: ts.project.root, port: 0, host: '127.0.0.1', dataDir });
    expect((again.host.registry.get('counter').snapshot() as { n: number }).n).toBe(3);
    await again.stop();
  } finally {
    ts.project.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

it('refuses a patch whose top level or init replaces a built-in, and puts the built-in back', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` });
  project.write('logic/m.ts', `Array.prototype.push = function () { return 0; };\nexport function v() { return 2; }\n`);
  let record = await host.patch(['m']);
  expect(record.ok).toBe(false);
  expect(record.error).toMatchObject({ code: 'LOGIC_FORBIDDEN', module: 'm' });
  expect(record.error!.message).toMatch(/^logic\/m\.ts: its top level changed built-ins the host shares with every module: Array\.prototype\.push /);
  expect(Array.prototype.push).toBe(realPush);

  project.write('logic/m.ts', `export function v() { return 3; }\nexport function init() {\n  (Object.prototype as any).then = function () {};\n  Map.prototype.get = function () { return undefined; };\n}\n`);
  record = await host.patch(['m']);
  expect(record.error).toMatchObject({ code: 'LOGIC_FORBIDDEN', location: { file: 'logic/m.ts', line: 2 } });
  expect(record.error!.message).toContain('init of m changed built-ins the host shares with every module: Object.prototype.then, Map.prototype.get');
  expect('then' in Object.prototype).toBe(false);
  expect(Map.prototype.get).toBe(realMapGet);
  expect(host.call('m.v')).toBe(1);
  // The server still works: a store write and a patch.
  project.write('logic/m.ts', `import { counter } from '../state/counter';\nexport function bump() { return counter.update((d) => { d.n++; }).n; }\n`);
  expect((await host.patch(['m'])).ok).toBe(true);
  expect(host.call('m.bump')).toBe(1);
  expect(valueOf<{ n: number }>(host, 'counter').n).toBe(1);
});
