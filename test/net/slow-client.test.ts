import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { sleep } from '../helpers/project.ts';
import { joinedSocket, startServer, type TestServer } from '../helpers/server.ts';

const GAME = `
import { client, type Ctx } from '../server/api';
const BLOB = 'x'.repeat(64 * 1024);
export const flood = client((ctx: Ctx, p: { n: number }) => { for (let i = 0; i < p.n; i++) ctx.send(ctx.player!, 'blob', BLOB); return p.n; });
export const shout = client((ctx: Ctx, p: { text: string }) => { ctx.broadcast('lobby', 'shout', { from: ctx.player, text: p.text }); });
export const hello = client(() => 'hi');
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'logic/game.ts': GAME }, { limits: { maxSendBuffer: 512 * 1024 } });
});
afterAll(async () => t.stop());

it('disconnects a client that does not read, with a reason, instead of buffering without end', async () => {
  const slow = await joinedSocket(t.url, 'slow');
  // Stop reading: the kernel buffers fill, then ws's send buffer grows on the server.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const other = new RebindClient(t.url, { reconnect: false });
  await other.connect();
  await other.join({ name: 'fine' });
  for (let i = 0; i < 40 && slow.ws.readyState === 1; i++) {
    slow.sendBinary(['game.flood', 0, { n: 20 }]);
    await sleep(20);
  }
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const closed = await slow.closed;
  expect(closed.code).toBe(1008);
  expect(closed.reason).toBe('send buffer full: the client is not reading fast enough');
  expect(await other.call('game.hello')).toBe('hi');
  expect(t.server.gateway.connectionCount).toBe(1);
  other.close();
});

it('broadcasts to everyone in a room, once the call commits', async () => {
  const a = await joinedSocket(t.url, 'a');
  const b = await joinedSocket(t.url, 'b', false);
  a.sendBinary(['game.shout', 1, { text: 'hey' }]);
  expect(await a.push('shout')).toEqual({ from: 'p-a', text: 'hey' });
  expect(await b.push('shout')).toEqual({ from: 'p-a', text: 'hey' });
  a.close();
  b.close();
});
