import { expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { COUNTER_STATE, TempProject, waitFor } from '../helpers/project.ts';
import { openHost, valueOf } from './hosts.ts';

// Stores are made only by state/, and every one of them is kept.

it('registers stores exported inside an object, or not exported at all', async () => {
  const { host } = await openHost({
    'state/counters.ts': `
import { defineStore, defineTable } from '../server/api';
export const counters = { a: defineStore('a', { n: 0 }), b: defineStore('b', { n: 0 }) };
export const list = [defineTable('c')];
const hidden = defineStore('hidden', { n: 0 });
export function touchHidden() { return hidden.update((d) => { d.n++; }).n; }
`,
    'logic/m.ts': `
import { counters, touchHidden } from '../state/counters';
export function bump() { counters.a.update((d) => { d.n++; }); return touchHidden(); }
`,
  });
  expect([...host.registry.byName.keys()].sort()).toEqual(['$timers', 'a', 'b', 'c', 'hidden']);
  expect(host.status().stores.map((s) => s.name).sort()).toEqual(['$timers', 'a', 'b', 'c', 'hidden']);
  host.call('m.bump');
  expect((host.registry.get('a') as unknown as { get(): { n: number } }).get().n).toBe(1);
  expect((host.registry.get('hidden') as unknown as { get(): { n: number } }).get().n).toBe(1);
});

it('refuses defineStore at the top level of a logic module, naming file, line and column', async () => {
  const { host, project } = await openHost({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': `export function v() { return 1; }\n` });
  project.write('logic/m.ts', `import { defineStore } from '../server/api';\n\nconst scores = defineStore('scores', { n: 0 });\nexport function v() { return scores.get().n; }\n`);
  const record = await host.patch(['m']);
  expect(record.ok).toBe(false);
  expect(record.error!.code).toBe('STORE_OUTSIDE_STATE');
  expect(record.error!.message).toMatch(/^logic\/m\.ts:3:\d+: defineStore\("scores"\) was called from game logic/);
  expect(record.error!.location).toMatchObject({ file: 'logic/m.ts', line: 3 });
  expect(host.registry.byName.has('scores')).toBe(false);
  expect(host.call('m.v')).toBe(1);
});

it('refuses defineTable in init and in a handler', async () => {
  const { host, project } = await openHost({
    'logic/m.ts': `import { defineTable } from '../server/api';\nexport function make() { return defineTable('t').size; }\n`,
  });
  expect(() => host.call('m.make')).toThrow(expect.objectContaining({ code: 'STORE_OUTSIDE_STATE' }));
  project.write('logic/m.ts', `import { defineTable } from '../server/api';\nexport function init() { defineTable('t'); }\n`);
  const record = await host.patch(['m']);
  expect(record.error).toMatchObject({ code: 'STORE_OUTSIDE_STATE', location: { file: 'logic/m.ts', line: 2 } });
});

it('persists stores exported inside an object across a clean restart', async () => {
  const project = new TempProject({
    'state/counters.ts': `import { defineStore } from '../server/api';\nexport const counters = { a: defineStore('a', { n: 0 }), b: defineStore('b', { n: 0 }), c: defineStore('c', { n: 0 }) };\n`,
    'logic/m.ts': `import { counters } from '../state/counters';\nexport function bump() { for (const s of [counters.a, counters.b, counters.c]) s.update((d) => { d.n++; }); }\nexport function read() { return [counters.a.get().n, counters.b.get().n, counters.c.get().n]; }\n`,
  });
  const dataDir = project.path('data');
  try {
    const first = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', dataDir, fsync: 'always' });
    first.host.call('m.bump');
    first.host.call('m.bump');
    await first.stop();
    const second = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', dataDir, fsync: 'always' });
    try {
      expect(second.host.call('m.read')).toEqual([2, 2, 2]);
    } finally {
      await second.stop();
    }
  } finally {
    project.cleanup();
  }
});

it('refuses defineStore from logic outside a transaction: after an await, in a raw timer, in a promise callback, and from a state file later', async () => {
  const { host } = await openHost({
    'state/s.ts': `import { defineStore } from '../server/api';
export const s = defineStore('s', { late: '' });
setTimeout(() => { try { defineStore('lateFromState', { n: 1 }); } catch (err) { s.update((d) => { d.late = (err as { code: string }).code; }); } }, 10);
`,
    'state/seen.ts': `import { defineStore } from '../server/api';\nexport const seen = defineStore('seen', { codes: [] as string[] });\n`,
    'logic/m.ts': `import { defineStore, defineTable, type Ctx } from '../server/api';
import { seen } from '../state/seen';
const note = (err: unknown) => seen.update((d) => { d.codes.push((err as { code: string }).code + ' ' + (err as Error).message.split(':')[0]); });
export async function afterAwait(ctx: Ctx) { await null; const t = defineStore('madeAfterAwait', { n: 0 }); return t.get().n; }
export function inTimer(ctx: Ctx) { setTimeout(() => { try { defineTable('madeInTimer'); } catch (err) { note(err); } }, 0); return 'scheduled'; }
export function inThen(ctx: Ctx) { Promise.resolve().then(() => defineTable('madeInThen')).catch(note); return 'then'; }
`,
  });
  await expect(host.call('m.afterAwait') as Promise<unknown>).rejects.toMatchObject({ code: 'STORE_OUTSIDE_STATE' });
  host.call('m.inTimer');
  host.call('m.inThen');
  await waitFor(() => valueOf<{ codes: string[] }>(host, 'seen').codes.length === 2 && valueOf<{ late: string }>(host, 's').late !== '', 5000, 'the refusals');
  expect([...valueOf<{ codes: string[] }>(host, 'seen').codes].sort()).toEqual(['STORE_OUTSIDE_STATE logic/m.ts', 'STORE_OUTSIDE_STATE logic/m.ts']);
  expect(valueOf<{ late: string }>(host, 's').late).toBe('STORE_OUTSIDE_STATE');
  expect([...host.registry.byName.keys()].sort()).toEqual(['$timers', 's', 'seen']);
});
