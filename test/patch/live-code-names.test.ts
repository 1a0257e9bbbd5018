import { rmSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { servedProject } from '../helpers/served-project.ts';

// A module whose name the live code cannot save (a space, a dot, a
// backslash, a non-ASCII letter, a newline) is refused when the patch is
// planned, with a clear error: it was accepted, went live, and from then on
// nothing was saved, so a restart silently undid every later patch.

const TOKEN = 'rebind_live_code_names_test_token';
const source = (word: string) => `export function which() { return '${word}'; }\n`;

const served = servedProject(TOKEN, { 'logic/m.ts': source('one') });

interface Record_ {
  ok: boolean;
  error?: { code: string; message: string };
}
const admin = served.admin;
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which' })).result;
const start = served.start;

it('a module name the live code cannot save is refused at planning; later patches are saved and survive a restart', async () => {
  await start();
  for (const bad of ['my mod', 'größe', 'my.mod']) {
    writeFileSync(served.project.path(`logic/${bad}.ts`), source(bad));
    const refused = await admin<Record_>('patch', { modules: [bad] });
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_MODULE_NAME', message: expect.stringContaining(bad) } });
    expect(served.server.output()).not.toContain('could not be saved');
    // Patching everything that changed leaves it out loudly, rather than taking it (or refusing every other module).
    expect(await admin<Record_>('patch', {})).toMatchObject({ ok: true });
    expect((await admin<{ modules: Array<{ name: string }> }>('status')).modules.map((m) => m.name)).toEqual(['m']);
    rmSync(served.project.path(`logic/${bad}.ts`));
  }
  writeFileSync(served.project.path('logic/m.ts'), source('two'));
  expect(await admin<Record_>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
  expect((await admin<{ liveCode: { error: string | null } }>('status')).liveCode.error).toBeNull();
  await served.server.kill();
  await start();
  expect(await which()).toBe('two');
}, 60_000);

it('a module with a bad name present at start is left out loudly; the rest is served and saved', async () => {
  await served.server.kill();
  writeFileSync(served.project.path('logic/my mod.ts'), source('bad'));
  writeFileSync(served.project.path('logic/m.ts'), source('three'));
  await start('--from-disk');
  expect(await which()).toBe('three');
  expect(served.server.output()).toMatch(/MODULE LEFT OUT: \\?"my mod\\?" \(BAD_MODULE_NAME/);
  expect((await admin<{ liveCode: { error: string | null } }>('status')).liveCode.error).toBeNull();
  rmSync(served.project.path('logic/my mod.ts'));
  await served.server.kill();
  await start();
  expect(await which()).toBe('three');
}, 60_000);
