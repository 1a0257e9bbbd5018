import { readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runCli } from '../helpers/process.ts';
import { servedProject } from '../helpers/served-project.ts';

// The live code is data: real server processes, killed and restarted on the
// same data folder, come back on the code that was live (a rollback
// included), whatever logic/ holds by then, and say where the files differ.
// --from-disk starts from the files.

const TOKEN = 'rebind_live_code_test_token';
const source = (word: string) => `export function which() { return '${word}'; }\n`;

const served = servedProject(TOKEN, { 'logic/m.ts': source('one') });
const env = served.env;

interface Status {
  modules: Array<{ name: string; version: number; hash: string; disk: string; canRollback: boolean }>;
  liveCode: { startedFrom: string; drift: string[]; notLive: string[]; error: string | null };
}
interface Record_ {
  id: number;
  kind: string;
  ok: boolean;
}

const admin = served.admin;
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which' })).result;
const status = () => admin<Status>('status');
const start = served.start;

it('a restart after a rollback runs the rolled-back code, even though the file says otherwise', async () => {
  await start();
  expect(await which()).toBe('one');
  writeFileSync(served.project.path('logic/m.ts'), source('two'));
  expect(await admin<Record_>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
  expect(await which()).toBe('two');
  expect(await admin<Record_>('rollback', { module: 'm' })).toMatchObject({ ok: true, kind: 'rollback' });
  expect(await which()).toBe('one');
  const before = (await status()).modules.find((m) => m.name === 'm')!;
  expect(before).toMatchObject({ version: 3, disk: 'differs' });

  // A crash, not a clean stop: the live code was durable when the rollback answered.
  await served.server.kill();
  await start();
  expect(await which()).toBe('one');
  const after = await status();
  expect(after.modules.find((m) => m.name === 'm')).toMatchObject({ version: 3, hash: before.hash, disk: 'differs' });
  expect(after.liveCode.startedFrom).toBe('saved');
  expect(after.liveCode.drift).toEqual([`m: live v3 ${before.hash.slice(0, 6)}, disk differs`]);
  expect(served.server.output()).toContain(`m: live v3 ${before.hash.slice(0, 6)}, disk differs`);
  const cli = await runCli(['status', '--server', served.server.adminUrl], env);
  expect(cli.stdout).toContain(`m: live v3 ${before.hash.slice(0, 6)}, disk differs`);
  // The history of the last run came back, and goes on after it.
  const history = await admin<Record_[]>('history', { n: 10 });
  expect(history.map((r) => r.kind)).toEqual(['patch', 'patch', 'rollback', 'restore']);
  expect(history.map((r) => r.id)).toEqual([1, 2, 3, 4]);
}, 60_000);

it('a restart after a patch runs the patched code after the file was changed back; rollback still works', async () => {
  expect(await admin<Record_>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
  expect(await which()).toBe('two');
  writeFileSync(served.project.path('logic/m.ts'), source('one'));
  expect(await served.server.stop()).toBe(0);
  await start();
  expect(await which()).toBe('two');
  const m = (await status()).modules.find((x) => x.name === 'm')!;
  expect(m).toMatchObject({ version: 4, disk: 'differs', canRollback: true });
  // The builds kept for rollback came back too.
  expect(await admin<Record_>('rollback', { module: 'm' })).toMatchObject({ ok: true });
  expect(await which()).toBe('one');
  expect((await status()).modules.find((x) => x.name === 'm')).toMatchObject({ version: 5, disk: 'same' });
  expect(await served.server.stop()).toBe(0);
}, 60_000);

it('--from-disk runs the files, numbers versions after the saved ones, and saves them as the live code', async () => {
  writeFileSync(served.project.path('logic/m.ts'), source('three'));
  writeFileSync(served.project.path('logic/extra.ts'), `export function hi() { return 'hi'; }\n`);
  await start();
  // Without the flag: still the saved code, and the new file is named as not live.
  expect(await which()).toBe('one');
  expect((await status()).liveCode.notLive).toEqual(['extra']);
  expect(await served.server.stop()).toBe(0);

  await start('--from-disk');
  expect(await which()).toBe('three');
  const s = await status();
  expect(s.liveCode).toMatchObject({ startedFrom: 'disk', drift: [], notLive: [], error: null });
  expect(s.modules.find((x) => x.name === 'm')).toMatchObject({ version: 6, disk: 'same' });
  const manifest = JSON.parse(readFileSync(served.project.path('data/code/manifest.json'), 'utf8')) as { modules: Record<string, { version: number }> };
  expect(Object.keys(manifest.modules).sort()).toEqual(['extra', 'm']);
  expect(manifest.modules.m!.version).toBe(6);
  expect(await served.server.stop()).toBe(0);
}, 60_000);

it('a damaged manifest stops the start with LIVE_CODE_DAMAGED and a way out; --from-disk takes it', async () => {
  writeFileSync(served.project.path('data/code/manifest.json'), '{ "format": 1, "modules": ');
  await expect(start()).rejects.toThrow(/LIVE_CODE_DAMAGED.*--from-disk/s);
  await start('--from-disk');
  expect(await which()).toBe('three');
  expect(await served.server.stop()).toBe(0);
}, 60_000);
