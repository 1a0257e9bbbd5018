import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';

// A server that is there but answers nothing: a frozen process (SIGSTOP)
// keeps its sockets open and sends no close, so a client waited for ever.
// It now gives up on a connection that does not open in time, and takes a
// silent server for gone (after a $ping it did not answer) and reconnects.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

it('a server that accepts the TCP connection and never answers the upgrade: CONNECT_FAILED after connectTimeoutMs', async () => {
  const held: net.Socket[] = [];
  const silent = net.createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const s of held) s.destroy();
    silent.close(() => resolve());
  }));
  const port = (silent.address() as net.AddressInfo).port;
  const client = new RebindClient(`ws://127.0.0.1:${port}`, { reconnect: false, connectTimeoutMs: 400 });
  const started = Date.now();
  await expect(client.connect()).rejects.toMatchObject({ code: 'CONNECT_FAILED', message: expect.stringContaining('did not answer within 400 ms') });
  expect(Date.now() - started).toBeLessThan(3000);
});

it('a server frozen mid-game: the pending call fails, close says why, and the player is resumed once it wakes', async () => {
  const project = new TempProject({
    'logic/m.ts': `import { client } from '../server/api';\nexport const hi = client(() => 'hi');\n`,
    'logic/session.ts': `export function auth(ctx: unknown, p: { name: string }) { return 'p-' + p.name; }\n`,
  });
  const server: ServerProcess = await startServerProcess(['--root', project.root, '--data', project.path('data')]);
  cleanups.push(async () => {
    server.proc.kill('SIGCONT');
    await server.kill();
    project.cleanup();
  });
  const client = new RebindClient(server.gameUrl, { deadAfterMs: 1200, backoffMs: [100, 400] });
  cleanups.push(() => client.close());
  await client.connect();
  const joined = await client.join({ name: 'frozen' });
  const closes: Array<{ code: number; reason: string }> = [];
  let resumed = false;
  client.on('close', (e) => closes.push(e));
  client.on('resumed', () => (resumed = true));

  server.proc.kill('SIGSTOP');
  const pending = client.call('m.hi').then(() => 'answered', (err: { code: string }) => err.code);
  const started = Date.now();
  expect(await pending).toBe('DISCONNECTED');
  expect(Date.now() - started).toBeLessThan(6000);
  expect(closes[0]).toMatchObject({ code: 4008, reason: expect.stringContaining('sent nothing') });

  server.proc.kill('SIGCONT');
  await waitFor(() => resumed && client.connected, 15_000, 'the player resumed after the server woke');
  expect(client.player).toBe(joined.player);
  expect(await client.call('m.hi')).toBe('hi');
}, 40_000);
