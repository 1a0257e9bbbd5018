import { exec } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { runCli } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { startServerWithAdmin, type TestServer } from '../helpers/server.ts';

// What the CLI says and exits with, against a real server: an unverified
// patch (exit 3), no "verifying..." line before a refusal, `rebind drop`,
// a closed pipe, and --json errors as one JSON document with stderr empty.

const TOKEN = 'rebind_cli_outcomes_token';
const CLI = fileURLToPath(new URL('../../tools/bin-rebind.mjs', import.meta.url));
let t: TestServer;

beforeAll(async () => {
  t = await startServerWithAdmin(TOKEN, { 'logic/shop.ts': "export function buy() { return 'v1'; }\n" }, { tickHz: 20 });
}, 30_000);
afterAll(async () => {
  await t?.stop();
});

const cli = (...args: string[]) => runCli([...args, '--server', t.server.admin!.url], { REBIND_ADMIN_TOKEN: TOKEN });

it('rebind patch --verify 1s with no call in the window: UNVERIFIED, exit 3, the verifying line only once it applied', async () => {
  t.project.write('logic/shop.ts', "export function buy() { return 'v2'; }\n");
  const run = await cli('patch', 'shop', '--verify', '1s');
  expect(run.code).toBe(3);
  expect(run.stdout).toMatch(/UNVERIFIED after its 1 s window: too few calls to judge/);
  expect(run.stderr).toBe('verifying the new code for 1 s...\n');
  // The same code again is a no-op: nothing to verify, and nothing says it verifies.
  const noop = await cli('patch', 'shop', '--verify', '1000s');
  expect(noop.code).toBe(0);
  expect(noop.stdout).toMatch(/nothing to do/);
  expect(noop.stderr).toBe('');
  // A refused patch (a syntax error) says nothing about verifying.
  t.project.write('logic/shop.ts', 'export function buy( {\n');
  const refused = await cli('patch', 'shop', '--verify', '5s');
  expect(refused.code).toBe(1);
  expect(refused.stderr).not.toMatch(/verifying/);
  t.project.write('logic/shop.ts', "export function buy() { return 'v2'; }\n");
}, 60_000);

it('rebind drop <player> closes that player connection; an unknown player is NOT_JOINED', async () => {
  const c = new RebindClient(t.url, { reconnect: false });
  await c.connect();
  const { player } = (await c.join({ name: 'dropme' })) as { player: string };
  let closed = false;
  c.on('close', () => (closed = true));
  const run = await cli('drop', player);
  expect(run).toMatchObject({ code: 0, stdout: `dropped ${player}: the connection is closed; the player may resume\n` });
  await waitFor(() => closed, 5000, 'the dropped connection closed');
  const unknown = await cli('drop', 'nobody');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/NOT_JOINED: no connected player "nobody"/);
}, 30_000);

it('with --json an error is one JSON document on stdout and stderr stays empty', async () => {
  const run = await cli('call', 'shop.nothing', '--json');
  expect(run.code).toBe(1);
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'UNKNOWN_HANDLER' } });
}, 30_000);

it('rebind history piped into a reader that stops early exits quietly (no EPIPE stack)', async () => {
  // More history than a pipe holds (64 KB): the CLI is still writing when the reader goes.
  for (let i = 0; i < 2000; i++) t.server.host.engine.history.fail({ origin: 'cli', kind: 'patch', started: 0 }, [], new Error(`attempt ${i} of a long history, refused for the test`));
  // As a shell runs it: rebind history -n 2000 | head -1 (stderr to a file, the CLI's exit code from PIPESTATUS).
  const errFile = path.join(mkdtempSync(path.join(tmpdir(), 'rebind-epipe-')), 'stderr');
  const shell = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} history -n 2000 --server ${t.server.admin!.url} 2>${errFile} | head -1; echo "exit=\${PIPESTATUS[0]}"`;
  const out = await new Promise<string>((resolve) => exec(shell, { shell: '/bin/bash', env: { ...process.env, REBIND_ADMIN_TOKEN: TOKEN, NO_COLOR: '1' } }, (_e, stdout) => resolve(stdout)));
  const result = { code: Number(/exit=(\d+)/.exec(out)?.[1]), stderr: readFileSync(errFile, 'utf8') };
  expect(out.split('\n')[0]).toMatch(/^#\d+ /);
  expect(result.stderr).not.toMatch(/EPIPE|Error/);
  expect(result.code).toBe(0);
}, 30_000);
