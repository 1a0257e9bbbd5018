import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminRequest } from '../helpers/admin.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';

// A module whose name the live code cannot save (a space, a dot, a
// backslash, a non-ASCII letter, a newline) is refused when the patch is
// planned, with a clear error: it was accepted, went live, and from then on
// nothing was saved, so a restart silently undid every later patch.

const TOKEN = 'rebind_live_code_names_test_token';
const env = { REBIND_ADMIN_TOKEN: TOKEN };
const source = (word: string) => `export function which() { return '${word}'; }\n`;

let project: TempProject;
let server: ServerProcess | undefined;

interface Record_ {
  ok: boolean;
  error?: { code: string; message: string };
}
const admin = <T>(action: string, args: Record<string, unknown> = {}) => adminRequest<T>(server!.adminUrl, TOKEN, action, args);
const which = async () => (await admin<{ result: string }>('call', { handler: 'm.which' })).result;
const start = async () => {
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], env);
};

beforeAll(() => {
  project = new TempProject({ 'logic/m.ts': source('one') });
});

afterAll(async () => {
  await server?.kill();
  project?.cleanup();
});

it('a module name the live code cannot save is refused at planning; later patches are saved and survive a restart', async () => {
  await start();
  for (const bad of ['my mod', 'größe', 'my.mod']) {
    writeFileSync(project.path(`logic/${bad}.ts`), source(bad));
    const refused = await admin<Record_>('patch', { modules: [bad] });
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_MODULE_NAME', message: expect.stringContaining(bad) } });
    expect(server!.output()).not.toContain('could not be saved');
    // Patching everything that changed leaves it out loudly, rather than taking it (or refusing every other module).
    expect(await admin<Record_>('patch', {})).toMatchObject({ ok: true });
    expect((await admin<{ modules: Array<{ name: string }> }>('status')).modules.map((m) => m.name)).toEqual(['m']);
    rmSync(project.path(`logic/${bad}.ts`));
  }
  writeFileSync(project.path('logic/m.ts'), source('two'));
  expect(await admin<Record_>('patch', { modules: ['m'] })).toMatchObject({ ok: true });
  expect((await admin<{ liveCode: { error: string | null } }>('status')).liveCode.error).toBeNull();
  await server!.kill();
  await start();
  expect(await which()).toBe('two');
}, 60_000);

it('a module with a bad name present at start is left out loudly; the rest is served and saved', async () => {
  await server?.kill();
  writeFileSync(project.path('logic/my mod.ts'), source('bad'));
  writeFileSync(project.path('logic/m.ts'), source('three'));
  server = await startServerProcess(['--root', project.root, '--data', project.path('data'), '--from-disk'], env);
  expect(await which()).toBe('three');
  expect(server.output()).toMatch(/MODULE LEFT OUT: \\?"my mod\\?" \(BAD_MODULE_NAME/);
  expect((await admin<{ liveCode: { error: string | null } }>('status')).liveCode.error).toBeNull();
  rmSync(project.path('logic/my mod.ts'));
  await server.kill();
  await start();
  expect(await which()).toBe('three');
}, 60_000);
