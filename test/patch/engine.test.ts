import { afterEach, describe, expect, it } from 'vitest';
import { Host } from '../../server/host.ts';
import type { Store, Table } from '../../server/api.ts';
import { COUNTER_STATE, sleep, TempProject, waitFor } from '../helpers/project.ts';

const open: Array<{ host?: Host; project: TempProject }> = [];
afterEach(async () => {
  for (const { host, project } of open.splice(0)) {
    await host?.stop();
    project.cleanup();
  }
});

async function setup(files: Record<string, string>): Promise<{ host: Host; project: TempProject }> {
  const project = new TempProject(files);
  const entry: { host?: Host; project: TempProject } = { project };
  open.push(entry);
  entry.host = await Host.open({ root: project.root });
  return { host: entry.host, project };
}

const counterModule = (step: number, extra = '') => `
import { client, type Ctx } from '../server/api';
import { counter } from '../state/counter';
export const bump = client((ctx: Ctx) => counter.update((d) => { d.n += ${step}; }).n);
export function store() { return counter; }
${extra}
`;

describe('patching logic', () => {
  it('keeps a store and its data through 100 patches, as one instance', async () => {
    const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/count.ts': counterModule(1) });
    const original = host.registry.get('counter');
    for (let i = 1; i <= 100; i++) {
      expect(host.call('count.bump', null, { origin: 'client' })).toBe(sumSteps(i));
      project.write('logic/count.ts', counterModule(i + 1));
      const record = await host.patch(['count']);
      expect(record.ok).toBe(true);
      expect(record.modules[0]).toMatchObject({ module: 'count', change: 'updated', oldVersion: i, newVersion: i + 1 });
      expect(host.call('count.store')).toBe(original);
    }
    expect((original as Store<{ n: number }>).get().n).toBe(sumSteps(100));
    expect(host.status().modules[0]!.version).toBe(101);
    expect(host.history()).toHaveLength(101);
  });

  it('runs init on every activation and dispose of the replaced version after the swap', async () => {
    const mod = (v: number) => `
import type { Ctx } from '../server/api';
import { counter } from '../state/counter';
export function init(ctx: Ctx) { counter.update((d) => { d.log.push('init ${v}:' + ctx.call('m.v')); }); }
export function dispose(ctx: Ctx) { counter.update((d) => { d.log.push('dispose ${v}:' + ctx.call('m.v')); }); }
export function v() { return ${v}; }
`;
    const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/m.ts': mod(1) });
    project.write('logic/m.ts', mod(2));
    await host.patch();
    project.write('logic/m.ts', mod(3));
    await host.patch();
    // init sees its own version's handlers; dispose runs once the new names are live.
    expect((host.registry.get('counter') as Store<{ log: string[] }>).get().log).toEqual(['init 1:1', 'init 2:2', 'dispose 1:2', 'init 3:3', 'dispose 2:3']);
  });

  it('treats an identical build as a no-op and says so', async () => {
    const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/count.ts': counterModule(1) });
    project.write('logic/count.ts', counterModule(1) + '\n// only a comment\n');
    const record = await host.patch(['count']);
    expect(record).toMatchObject({ ok: true, noop: true });
    expect(record.modules).toEqual([expect.objectContaining({ module: 'count', change: 'unchanged', oldVersion: 1, newVersion: 1 })]);
    expect((await host.patch()).noop).toBe(true);
  });

  it('rebuilds every module that includes a changed helper, in one patch, and no other', async () => {
    const helper = (v: number) => `export const bonus = () => ${v};\n`;
    const user = (name: string) => `
import { bonus } from './lib/bonus';
export function get() { return '${name}:' + bonus(); }
`;
    const { host, project } = await setup({
      'logic/lib/bonus.ts': helper(1),
      'logic/a.ts': user('a'),
      'logic/nested/b.ts': user('b').replace('./lib/bonus', '../lib/bonus'),
      'logic/c.ts': `export function get() { return 'c'; }\n`,
    });
    expect(host.call('a.get')).toBe('a:1');
    expect(host.call('nested/b.get')).toBe('b:1');
    project.write('logic/lib/bonus.ts', helper(2));
    const record = await host.patch();
    expect(record.ok).toBe(true);
    expect(record.modules.map((m) => [m.module, m.change]).sort()).toEqual([
      ['a', 'updated'],
      ['nested/b', 'updated'],
    ]);
    expect(host.call('a.get')).toBe('a:2');
    expect(host.call('nested/b.get')).toBe('b:2');
    expect(host.status().modules.find((m) => m.name === 'c')!.version).toBe(1);
    // The same, driven by changed file names (what the watcher does).
    project.write('logic/lib/bonus.ts', helper(3));
    const byFile = await host.patch({ files: [project.path('logic/lib/bonus.ts')] });
    expect(byFile.modules.map((m) => m.module).sort()).toEqual(['a', 'nested/b']);
  });

  describe('a rejected patch changes nothing', () => {
    const good = counterModule(1, `export function init(ctx: Ctx) { counter.update((d) => { d.log.push('init'); }); }`);
    const failures: Array<[string, string, string, { file: string; line: number; column: number }]> = [
      ['a compile error', counterModule(1, 'export function broken() { return 1 +; }'), 'PATCH_COMPILE_ERROR', { file: 'logic/count.ts', line: 6, column: 38 }],
      ['a throw at top level', counterModule(1, `const table = JSON.parse('{oops');`), 'PATCH_EVAL_ERROR', { file: 'logic/count.ts', line: 6, column: 0 }],
      ['an export that is not a function', counterModule(1, 'export const speed = 5;'), 'PATCH_BAD_EXPORT', { file: 'logic/count.ts', line: 6, column: 1 }],
      [
        'init that throws after writing',
        counterModule(1, `export function init(ctx: Ctx) {\n  counter.update((d) => { d.n = 1000; });\n  throw new Error('init failed');\n}`),
        'PATCH_INIT_ERROR',
        { file: 'logic/count.ts', line: 8, column: 0 },
      ],
    ];
    for (const [what, source, code, where] of failures) {
      it(`on ${what}`, async () => {
        const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/count.ts': good });
        host.call('count.bump', null, { origin: 'client' });
        const before = (host.registry.get('counter') as Store<unknown>).get();
        project.write('logic/count.ts', source.replace('d.n += 1', 'd.n += 50'));
        const record = await host.patch();
        expect(record.ok).toBe(false);
        expect(record.error!.code).toBe(code);
        expect(record.error!.location).toMatchObject({ file: where.file, line: where.line });
        if (where.column) expect(record.error!.location!.column).toBe(where.column);
        expect(record.error!.message).toContain(`logic/count.ts:${where.line}:`);
        // Old code still serves, stores are as they were, the version did not move.
        expect((host.registry.get('counter') as Store<unknown>).get()).toBe(before);
        expect(host.call('count.bump', null, { origin: 'client' })).toBe(2);
        expect(host.status().modules[0]!.version).toBe(1);
        expect(host.history().at(-1)).toMatchObject({ ok: false, error: { code } });
      });
    }

    it('when one of two modules fails: neither is swapped', async () => {
      const { host, project } = await setup({ 'logic/a.ts': `export function v() { return 'a1'; }`, 'logic/b.ts': `export function v() { return 'b1'; }` });
      project.write('logic/a.ts', `export function v() { return 'a2'; }`);
      project.write('logic/b.ts', `export function v() { return 'b2'; }\nexport function init() { throw new Error('no'); }`);
      const record = await host.patch();
      expect(record.error!.code).toBe('PATCH_INIT_ERROR');
      expect(host.call('a.v')).toBe('a1');
      expect(host.call('b.v')).toBe('b1');
    });

    it('when init is async', async () => {
      const { host, project } = await setup({ 'logic/a.ts': `export function v() { return 1; }` });
      project.write('logic/a.ts', `export function v() { return 2; }\nexport async function init() {}`);
      const record = await host.patch();
      expect(record.error).toMatchObject({ code: 'PATCH_INIT_ERROR' });
      expect(record.error!.message).toContain('init must be synchronous');
      expect(host.call('a.v')).toBe(1);
    });

    it('when a module imports a store file added after start', async () => {
      const { host, project } = await setup({ 'logic/a.ts': `export function v() { return 1; }` });
      project.write('state/late.ts', `import { defineStore } from '../server/api';\nexport const late = defineStore('late', {});`);
      project.write('logic/a.ts', `import { late } from '../state/late';\nexport function v() { return late.get(); }`);
      const record = await host.patch();
      expect(record.error).toMatchObject({ code: 'PATCH_STATE_IMPORT' });
      expect(record.error!.message).toContain('restart the server');
      expect(host.call('a.v')).toBe(1);
    });
  });

  it('maps errors thrown by patched code to the TypeScript file and line', async () => {
    const { host } = await setup({
      'logic/lib/deep.ts': `export function explode(): never {\n  throw new Error('deep trouble');\n}\n`,
      'logic/a.ts': `import { explode } from './lib/deep';\n\nexport function go() {\n  return explode();\n}\n`,
    });
    let stack = '';
    const lines: string[] = [];
    // The log's one stream is stdout (server/log.ts).
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      host.call('a.go');
    } catch (err) {
      stack = (err as Error).message;
    } finally {
      process.stdout.write = write;
    }
    expect(stack).toBe('a.go failed: deep trouble');
    const logged = lines.join('');
    expect(logged).toContain('logic/lib/deep.ts:2:9');
    expect(logged).toContain('logic/a.ts:4:10');
  });

  it('rolls back to the previous version as an ordinary patch, step by step', async () => {
    const mod = (v: number) => `export function v() { return ${v}; }`;
    const { host, project } = await setup({ 'logic/a.ts': mod(1), 'logic/b.ts': mod(10) });
    project.write('logic/a.ts', mod(2));
    await host.patch();
    project.write('logic/a.ts', mod(3));
    project.write('logic/b.ts', mod(30));
    await host.patch();
    expect([host.call('a.v'), host.call('b.v')]).toEqual([3, 30]);
    const back = await host.rollback();
    expect(back).toMatchObject({ ok: true, kind: 'rollback' });
    expect(back.modules.map((m) => m.module).sort()).toEqual(['a', 'b']);
    expect([host.call('a.v'), host.call('b.v')]).toEqual([2, 10]);
    const again = await host.rollback('a');
    expect(again.ok).toBe(true);
    expect(host.call('a.v')).toBe(1);
    const none = await host.rollback('a');
    expect(none).toMatchObject({ ok: false, error: { code: 'NO_ROLLBACK' } });
    expect((await host.rollback('zzz')).error!.code).toBe('UNKNOWN_MODULE');
    // The files on disk still say 3 and 30: a plain patch applies them again.
    const forward = await host.patch();
    expect(forward.ok).toBe(true);
    expect([host.call('a.v'), host.call('b.v')]).toEqual([3, 30]);
  });

  it('adds and removes modules with their handlers', async () => {
    const { host, project } = await setup({ 'logic/a.ts': `export function v() { return 1; }` });
    project.write('logic/b.ts', `export function v() { return 2; }\nexport function dispose(ctx: any) { ctx.log.info('bye'); }`);
    expect((await host.patch()).modules).toEqual([expect.objectContaining({ module: 'b', change: 'added', newVersion: 1 })]);
    expect(host.call('b.v')).toBe(2);
    project.remove('logic/b.ts');
    expect((await host.patch()).modules).toEqual([expect.objectContaining({ module: 'b', change: 'removed' })]);
    expect(() => host.call('b.v')).toThrow(expect.objectContaining({ code: 'UNKNOWN_HANDLER' }));
    expect((await host.patch(['nope'])).error!.code).toBe('UNKNOWN_MODULE');
  });

  it('fires a pending ctx.schedule on the new code, and stops a disposed version\'s raw interval', async () => {
    const mod = (tag: string) => `
import type { Ctx } from '../server/api';
import { counter } from '../state/counter';
export function init(ctx: Ctx) {
  setInterval(() => counter.update((d) => { d.log.push('tick-${tag}'); }), 5);
}
export function later(ctx: Ctx, p: { delay: number }) { return ctx.schedule(p.delay, 'timers.fired', { from: '${tag}' }); }
export function fired(ctx: Ctx, p: { from: string }) { counter.update((d) => { d.log.push('fired-${tag}-from-' + p.from); }); }
`;
    const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/timers.ts': mod('v1') });
    const counter = host.registry.get('counter') as Store<{ log: string[] }>;
    host.call('timers.later', { delay: 150 });
    await waitFor(() => counter.get().log.includes('tick-v1'), 2000, 'the v1 interval');
    project.write('logic/timers.ts', mod('v2'));
    expect((await host.patch()).ok).toBe(true);
    const mark = counter.get().log.length;
    await waitFor(() => counter.get().log.some((l) => l.startsWith('fired')), 2000, 'the scheduled call');
    await sleep(40);
    const after = counter.get().log.slice(mark);
    expect(after).toContain('fired-v2-from-v1');
    expect(after).not.toContain('tick-v1');
    expect(after).toContain('tick-v2');
    expect(host.status().pendingTimers).toBe(0);
    expect((host.timers as Table<unknown>).size).toBe(0);
  });

  it('lets an async call in flight finish on old code while the next call runs the new code', async () => {
    const mod = (tag: string) => `
import { counter } from '../state/counter';
export async function slow() {
  await new Promise<void>((resolve) => setTimeout(resolve, 120));
  counter.update((d) => { d.log.push('slow-${tag}'); });
  return '${tag}';
}
export function fast() { return '${tag}'; }
`;
    const { host, project } = await setup({ 'state/counter.ts': COUNTER_STATE, 'logic/a.ts': mod('old') });
    const inFlight = host.call('a.slow') as Promise<string>;
    project.write('logic/a.ts', mod('new'));
    expect((await host.patch()).ok).toBe(true);
    expect(host.call('a.fast')).toBe('new');
    expect(await inFlight).toBe('old');
    expect(await (host.call('a.slow') as Promise<string>)).toBe('new');
    expect((host.registry.get('counter') as Store<{ log: string[] }>).get().log).toEqual(['slow-old', 'slow-new']);
  });

  it('leaves every store unchanged when a handler throws', async () => {
    const { host } = await setup({
      'state/counter.ts': COUNTER_STATE,
      'state/items.ts': `import { defineTable } from '../server/api';\nexport const items = defineTable<{ n: number }>('items');`,
      'logic/a.ts': `
import { counter } from '../state/counter';
import { items } from '../state/items';
export function both(ctx: any, p: { fail: boolean }) {
  counter.update((d) => { d.n++; });
  items.set('x', { n: counter.get().n });
  ctx.schedule(10, 'a.both', { fail: false });
  if (p.fail) throw new Error('nope');
}`,
    });
    expect(() => host.call('a.both', { fail: true })).toThrow(expect.objectContaining({ code: 'HANDLER_ERROR' }));
    expect((host.registry.get('counter') as Store<{ n: number }>).get().n).toBe(0);
    expect((host.registry.get('items') as Table<unknown>).size).toBe(0);
    expect(host.status().pendingTimers).toBe(0);
  });
});

function sumSteps(i: number): number {
  // After i bumps, with step k used for the k-th bump.
  return (i * (i + 1)) / 2;
}
