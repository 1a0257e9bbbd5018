import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { adminRequest } from '../helpers/admin.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';

// The saved live code around what runs: --from-disk keeps the code that was
// live as the rollback target, and damage to files that do not run (a
// rollback target's build, the live build's source map) does not stop a
// start: it is dropped or replaced, with a warning.

const TOKEN = 'rebind_live_code_damage_test_token';
const source = (word: string) => `export function which() { return '${word}'; }\n`;

let project: TempProject | undefined;
let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
  project?.cleanup();
  project = undefined;
});

const admin = <T>(action: string, args: Record<string, unknown> = {}) => adminRequest<T>(server!.adminUrl, TOKEN, action, args);
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which' })).result;
const start = async (...extra: string[]) => {
  server = await startServerProcess(['--root', project!.root, '--data', project!.path('data'), ...extra], { REBIND_ADMIN_TOKEN: TOKEN });
};
const patchTo = async (word: string) => {
  writeFileSync(project!.path('logic/m.ts'), source(word));
  expect(await admin<{ ok: boolean }>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
};

it('--from-disk keeps the code that was live as the rollback target: rebind rollback goes back to it', async () => {
  project = new TempProject({ 'logic/m.ts': source('one') });
  await start();
  await patchTo('two');
  expect(await server!.stop()).toBe(0);
  writeFileSync(project.path('logic/m.ts'), source('disk'));
  await start('--from-disk');
  expect(await which()).toBe('disk');
  expect(await admin('rollback', { module: 'm' })).toMatchObject({ ok: true, kind: 'rollback' });
  expect(await which()).toBe('two');
  // And the one before it, as the manifest kept it.
  expect(await admin('rollback', { module: 'm' })).toMatchObject({ ok: true });
  expect(await which()).toBe('one');
}, 60_000);

it('a lost rollback target build and a lost source map of the live build: the start goes on, warns, and serves the live build', async () => {
  project = new TempProject({ 'logic/m.ts': source('one') });
  await start();
  await patchTo('two');
  await patchTo('three');
  expect(await server!.stop()).toBe(0);
  const manifest = JSON.parse(readFileSync(project.path('data/code/manifest.json'), 'utf8')) as { modules: { m: { hash: string; previous: Array<{ hash: string }> } } };
  const m = manifest.modules.m;
  expect(m.previous).toHaveLength(2);
  rmSync(project.path(`data/code/builds/m/${m.previous[0]!.hash}.js`));
  rmSync(project.path(`data/code/builds/m/${m.hash}.js.map`));
  writeFileSync(project.path('logic/m.ts'), source('on disk, not live'));
  await start();
  expect(await which()).toBe('three');
  const out = server!.output();
  // Drift at start is a warning (level 40), not an info line.
  const drift = out.split('\n').find((l) => l.includes('the files on disk differ'));
  expect(drift && (JSON.parse(drift) as { level: number }).level).toBe(40);
  expect(out).toMatch(/the source map of m \([0-9a-f]{8}\) in the saved live code is missing: it runs without one/);
  expect(out).toMatch(/the build of m \([0-9a-f]{8}\) named by the manifest cannot be read .*; that rollback target of m is dropped/);
  expect(out).not.toMatch(/LIVE_CODE_DAMAGED/);
  // The target still there is the one a rollback takes; the lost one is gone.
  expect(await admin('rollback', { module: 'm' })).toMatchObject({ ok: true });
  expect(await which()).toBe('two');
  expect(await admin('rollback', { module: 'm' })).toMatchObject({ ok: false, error: { code: 'NO_ROLLBACK' } });
}, 60_000);
