import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';

// rebind patch said "nothing to do" while a file on disk was left out (a
// module name the server cannot use): only the server's log said MODULE LEFT
// OUT. The record carries what was left out, and the CLI says it.

const env = { REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '', REBIND_DATA: '' };
let project: TempProject;
let server: ServerProcess;
beforeAll(async () => {
  project = new TempProject({ 'state/.keep': '', 'logic/fine.ts': "import { client } from 'rebind';\nexport const hi = client(() => 'hi');\n" });
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], env);
});
afterAll(async () => {
  await server?.stop();
  project?.cleanup();
});

it('rebind patch names a file it left out, in words and in --json', async () => {
  project.write('logic/has.dot.ts', 'export function dotted() { return 1; }\n');
  const cli = (...args: string[]) => runCli(['patch', ...args, '--server', server.adminUrl, '--data', project.path('data')], env);
  const human = await cli();
  expect(human.code, human.stderr).toBe(0);
  expect(human.stderr).toContain('rebind: warning: logic/has.dot.ts was left out (BAD_MODULE_NAME): a module\'s path under logic/ must be');
  const json = await cli('--json');
  expect(json.code, json.stderr).toBe(0);
  expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, leftOut: [{ module: 'has.dot', code: 'BAD_MODULE_NAME' }] });
  // Renamed, it is patched in and nothing is left out.
  project.remove('logic/has.dot.ts');
  project.write('logic/has_dot.ts', 'export function dotted() { return 1; }\n');
  const fixed = await cli('--json');
  const record = JSON.parse(fixed.stdout) as { leftOut?: unknown; modules: Array<{ module: string }> };
  expect(record.leftOut).toBeUndefined();
  expect(record.modules.map((m) => m.module)).toContain('has_dot');
}, 60_000);
