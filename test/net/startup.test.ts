import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { startServerProcess } from '../helpers/process.ts';
import { TempProject } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

// A port in use: a message that names the flag, a non-zero exit, and
// everything that had started stopped the normal way (the data folder's
// lock among it), for the game port and the admin port alike.

let busy: net.Server;
let busyPort: number;
let project: TempProject;
beforeAll(async () => {
  busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as net.AddressInfo).port;
  project = new TempProject({ 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE });
});
afterAll(() => {
  busy.close();
  project.cleanup();
});

it.each([
  ['game', '--port'],
  ['admin', '--admin-port'],
] as const)('refuses to start when the %s port is taken, and releases the data folder', async (which, flag) => {
  const options = { root: project.root, host: '127.0.0.1', adminHost: '127.0.0.1', dataDir: project.path('data'), port: 0, adminPort: 0 };
  const taken = which === 'game' ? { port: busyPort } : { adminPort: busyPort };
  await expect(GameServer.start({ ...options, ...taken })).rejects.toMatchObject({
    code: 'PORT_IN_USE',
    message: `the ${which} port 127.0.0.1:${busyPort} is in use by another process: stop it, or pick another port with ${flag} (REBIND_${flag.slice(2).replace('-', '_').toUpperCase()})`,
  });
  // The failed start let go of the data folder (and of the other port): the same folder starts at once.
  const server = await GameServer.start(options);
  await server.stop();
});

it('exits non-zero with one friendly line and leaves nothing behind when run from the command line', async () => {
  const dataDir = project.path('data-cli');
  for (const flag of ['--port', '--admin-port']) {
    const args = ['--root', project.root, '--data', dataDir, flag === '--port' ? '--port' : '--admin-port', String(busyPort)];
    const error = await startServerProcess(args).then(
      async (p) => {
        await p.kill();
        return new Error('started');
      },
      (err: Error) => err,
    );
    expect(error.message).toMatch(/exited with 1 before listening/);
    expect(error.message).toContain(`PORT_IN_USE: the ${flag === '--port' ? 'game' : 'admin'} port 127.0.0.1:${busyPort} is in use by another process`);
    expect(error.message).not.toMatch(/\n\s+at /); // no stack
    expect(existsSync(`${dataDir}/server.pid`)).toBe(false);
    expect(readdirSync(dataDir).filter((f) => f.includes('lock') || f.endsWith('.pid'))).toEqual([]);
  }
});
