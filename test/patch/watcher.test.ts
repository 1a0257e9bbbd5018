import { afterEach, describe, expect, it } from 'vitest';
import { Host } from '../../server/host.ts';
import type { PatchRecord } from '../../server/patch/history.ts';
import { LogicWatcher } from '../../server/patch/watcher.ts';
import { sleep, TempProject, waitFor } from '../helpers/project.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function watched(files: Record<string, string>) {
  const project = new TempProject(files);
  cleanups.push(() => project.cleanup());
  const host = await Host.open({ root: project.root });
  cleanups.push(() => host.stop());
  const records: PatchRecord[] = [];
  const stateChanges: string[] = [];
  const watcher = new LogicWatcher(host.engine, host.paths, { onRecord: (r) => records.push(r), onStateChange: (f) => stateChanges.push(f) });
  await watcher.start();
  cleanups.push(() => watcher.close());
  return { project, host, records, stateChanges };
}

const mod = (v: string) => `export function v() { return '${v}'; }\n`;

describe('watch mode', () => {
  it('coalesces a burst of saves across many files into one patch', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`logic/m${i}.ts`] = mod(`m${i}-1`);
    const { project, host, records } = await watched(files);
    for (let i = 0; i < 20; i++) project.write(`logic/m${i}.ts`, mod(`m${i}-2`));
    await waitFor(() => host.call('m19.v') === 'm19-2' && host.call('m0.v') === 'm0-2', 5000, 'all twenty modules patched');
    await sleep(300);
    const changed = records.filter((r) => !r.noop);
    expect(changed.length).toBeLessThanOrEqual(2);
    expect(changed.flatMap((r) => r.modules.filter((m) => m.change === 'updated').map((m) => m.module)).sort()).toHaveLength(20);
    expect(changed.every((r) => r.origin === 'watch' && r.ok)).toBe(true);
  });

  it('never leaves the newest of rapid saves unapplied', async () => {
    const { project, host } = await watched({ 'logic/a.ts': mod('0') });
    // A save truncates the file before writing it: the handler must never vanish in between.
    let missing = 0;
    const probe = setInterval(() => {
      try {
        host.call('a.v');
      } catch {
        missing++;
      }
    }, 2);
    for (let i = 1; i <= 30; i++) {
      project.write('logic/a.ts', mod(String(i)));
      await sleep(i % 3 === 0 ? 25 : 5);
    }
    await waitFor(() => host.call('a.v') === '30', 5000, 'the last save to be live');
    await sleep(400);
    clearInterval(probe);
    expect(host.call('a.v')).toBe('30');
    expect(missing).toBe(0);
  });

  it('prints a rejected save, keeps the last good code, and applies the fix', async () => {
    const { project, host, records } = await watched({ 'logic/a.ts': mod('good') });
    project.write('logic/a.ts', 'export function v() { return ; ; ) }\n');
    await waitFor(() => records.some((r) => !r.ok), 5000, 'the rejected patch');
    expect(records.find((r) => !r.ok)!.error).toMatchObject({ code: 'PATCH_COMPILE_ERROR', location: { file: 'logic/a.ts', line: 1 } });
    expect(host.call('a.v')).toBe('good');
    project.write('logic/a.ts', mod('fixed'));
    await waitFor(() => host.call('a.v') === 'fixed', 5000, 'the fix');
  });

  it('reports a change under state/ as needing a restart and does not apply it', async () => {
    const state = `import { defineStore } from '../server/api';\nexport const s = defineStore('s', { n: 1 });\n`;
    const { project, host, stateChanges } = await watched({ 'state/s.ts': state, 'logic/a.ts': `import { s } from '../state/s';\nexport function v() { return s.get().n; }\n` });
    const store = host.registry.get('s');
    project.write('state/s.ts', state.replace('n: 1', 'n: 2'));
    await waitFor(() => stateChanges.length > 0, 5000, 'the state change report');
    expect(stateChanges[0]).toBe(project.path('state/s.ts'));
    expect(host.call('a.v')).toBe(1);
    expect(host.registry.get('s')).toBe(store);
  });
});
