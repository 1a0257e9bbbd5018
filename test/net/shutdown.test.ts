import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { COUNTER_STATE, TempProject } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

it('on SIGTERM lets a running call finish, closes clients with 1001 and exits 0', async () => {
  const project = new TempProject({
    'state/counter.ts': COUNTER_STATE,
    'state/session-log.ts': SESSION_STATE,
    'logic/session.ts': SESSION_MODULE,
    'logic/slow.ts': `import { client } from '../server/api';\nexport const wait = client(async () => { await new Promise((r) => setTimeout(r, 300)); return 'finished'; });\n`,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--port', '0', '--host', '127.0.0.1', '--root', project.root, '--data', project.path('data'), '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (ws:\/\/[\d.]+:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
    });
    const c = new RebindClient(url, { reconnect: false });
    await c.connect();
    await c.join({ name: 'z' });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => c.on('close', resolve));
    const running = c.call('slow.wait');
    await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await running).toBe('finished');
    expect(await closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
    project.cleanup();
  }
});
