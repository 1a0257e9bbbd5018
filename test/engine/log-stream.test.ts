import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { TempProject, waitFor } from '../helpers/project.ts';

// When stdout is not a terminal the log is one stream of JSON lines: info,
// warn and error alike on stdout, the busy watchdog's line (written by its
// own thread) included, and nothing on stderr.

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const project = new TempProject({
  'logic/session.ts': `export function auth(ctx: unknown, p: { name: string }) { return 'p-' + p.name; }\n`,
  'logic/shop.ts': `import { client } from '../server/api';
export const crash = client(() => { throw new Error('the till is on fire'); });
export const spin = client((ctx: unknown, ms: number) => { const end = Date.now() + ms; while (Date.now() < end) {} return 'done'; });
`,
});
afterAll(() => project.cleanup());

it('warn and error lines are JSON on stdout with the rest; stderr stays empty', async () => {
  // A short admin token makes a warning at start; a crashing handler an error; a long run the watchdog's warning.
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, '--root', project.root, '--data', project.path('data'), '--port', '0', '--host', '127.0.0.1', '--admin-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, REBIND_ADMIN_TOKEN: 'short-token', REBIND_LOG: 'info' },
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    await waitFor(() => /game server listening on ws:\/\/[\d.]+:\d+/.test(out), 30_000, 'the server to listen');
    const url = /game server listening on (ws:\/\/[\d.]+:\d+)/.exec(out)![1]!;
    const c = new RebindClient(url, { reconnect: false });
    await c.connect();
    await c.join({ name: 'ann' });
    await expect(c.call('shop.crash')).rejects.toMatchObject({ code: 'HANDLER_ERROR' });
    expect(await c.call('shop.spin', 2600)).toBe('done');
    c.close();
    try {
      await waitFor(() => /shop\.spin has been running for/.test(out) && /the till is on fire/.test(out), 10_000, 'the error and the watchdog line on stdout');
    } catch (e) {
      throw new Error(`${(e as Error).message}\nstdout:\n${out}\nstderr:\n${err}`);
    }
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; scope: string; msg: string; pid: number });
    expect(lines.find((l) => l.level === 40 && /anyone who guesses it/.test(l.msg))).toBeDefined();
    expect(lines.find((l) => l.level === 50 && /the till is on fire/.test(l.msg))).toMatchObject({ scope: 'calls' });
    expect(lines.find((l) => /shop\.spin has been running for \d+ ms/.test(l.msg))).toMatchObject({ level: 40, scope: 'busy', pid: proc.pid });
    expect(err).toBe('');
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
}, 60_000);
