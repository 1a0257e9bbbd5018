import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

// The same promises, kept by a real server process started the way a user
// starts it: a module that hangs at start is left out loudly, process.exit
// from a handler does not end the server, and a handler stuck in a loop is
// named while it is still running.

let project: TempProject;
let server: ServerProcess;

beforeAll(async () => {
  project = new TempProject({
    'state/session-log.ts': SESSION_STATE,
    'logic/session.ts': SESSION_MODULE,
    'logic/hang.ts': `export function init() { for (;;) {} }\n`,
    'logic/bad.ts': `import { client } from '../server/api';
export const quit = client(() => { process.exit(0); });
export const spin = client((ctx: unknown, ms: number) => { const until = Date.now() + ms; while (Date.now() < until) {} return 'done'; });
`,
  });
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], { REBIND_TIME_LIMIT_MS: '300' });
}, 30_000);

afterAll(async () => {
  await server?.kill();
  project?.cleanup();
});

it('starts without the module that hangs, refuses process.exit, and names a stuck handler while it runs', async () => {
  expect(server.output()).toMatch(/MODULE LEFT OUT: hang did not load .*PATCH_TIME_LIMIT/);
  const c = new RebindClient(server.gameUrl, { reconnect: false });
  await c.connect();
  await c.join({ name: 'ops' });
  await expect(c.call('bad.quit')).rejects.toMatchObject({ code: 'LOGIC_FORBIDDEN' });
  expect(server.proc.exitCode).toBeNull();
  expect(await c.call('bad.spin', 2600)).toBe('done');
  await waitFor(() => /bad\.spin has been running for \d+ ms and still is/.test(server.output()), 3000, 'the watchdog line');
  await waitFor(() => /bad\.spin kept the event loop busy for about \d+ ms/.test(server.output()), 3000, 'the line after it ended');
  c.close();
  // The process was never ended by logic: it still stops cleanly when asked.
  expect(await server.stop()).toBe(0);
}, 30_000);
