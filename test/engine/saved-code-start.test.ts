import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { TempProject, waitFor } from '../helpers/project.ts';

// Live code saved in the data folder that no longer starts is treated like a
// file on disk that does not: left out, loudly, and the rest served. A start
// that hangs in logic where no time limit reaches says how to get out.

it('leaves out a saved module whose top level throws at the next start, and serves the others', async () => {
  const project = new TempProject({
    'logic/m.ts': `export function v() { return 1; }\n`,
    'logic/ok.ts': `export function v() { return 'ok'; }\n`,
  });
  const flag = project.write('flag', '');
  const dataDir = project.path('data');
  try {
    const first = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', dataDir });
    project.write('logic/m.ts', `import { existsSync } from 'node:fs';\nif (!existsSync(${JSON.stringify(flag)})) throw new Error('config file missing');\nexport function v() { return 2; }\n`);
    expect((await first.host.patch(['m'])).ok).toBe(true);
    await first.stop();
    rmSync(flag);
    const again = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', dataDir });
    try {
      expect(again.host.call('ok.v')).toBe('ok');
      expect(again.host.bindings.live.has('m')).toBe(false);
      expect(again.host.status().skippedAtStart).toEqual([expect.objectContaining({ module: 'm', code: 'PATCH_EVAL_ERROR', message: expect.stringContaining('config file missing') })]);
    } finally {
      await again.stop();
    }
  } finally {
    project.cleanup();
  }
});

it('tells the operator how to get out when the start hangs in logic after an await', async () => {
  const project = new TempProject({
    'logic/m.ts': `(async () => { await null; for (;;) {} })();\nexport function v() { return 1; }\n`,
    'logic/ok.ts': `export function v() { return 'ok'; }\n`,
  });
  const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', main, '--root', project.root, '--data', project.path('data'), '--port', '0', '--host', '127.0.0.1', '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  try {
    await waitFor(() => /event loop has been blocked for \d+ ms by code outside any handler/.test(out), 20_000, 'the watchdog line');
    expect(out).toMatch(/still starting.*--from-disk/);
  } finally {
    proc.kill('SIGKILL');
    await exited;
    project.cleanup();
  }
}, 40_000);
