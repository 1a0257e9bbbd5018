import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { joinedSocket, startServer, type RawSocket, type TestServer } from '../helpers/server.ts';

const GAME = `
import { client, type Ctx } from '../server/api';
const BLOB = 'x'.repeat(64 * 1024);
export const flood = client((ctx: Ctx, p: { n: number }) => { for (let i = 0; i < p.n; i++) ctx.send(ctx.player!, 'blob', BLOB); return p.n; });
export const shout = client((ctx: Ctx, p: { text: string }) => { ctx.broadcast('lobby', 'shout', { from: ctx.player, text: p.text }); });
export const hello = client(() => 'hi');
`;

let t: TestServer;
let strict: TestServer;
beforeAll(async () => {
  // Over 512 KB for 300 ms is too slow.
  t = await startServer({ 'logic/game.ts': GAME }, { limits: { maxSendBuffer: 512 * 1024, slowClientMs: 300 } });
  // Only the ceiling can judge here: the clock would take a minute.
  strict = await startServer({ 'logic/game.ts': GAME }, { limits: { maxSendBuffer: 512 * 1024, slowClientMs: 60_000, maxQueuedBytes: 8 * 1024 * 1024 } });
});
afterAll(async () => {
  await t.stop();
  await strict.stop();
});

function pause(s: RawSocket): void {
  (s.ws as unknown as { _socket: { pause(): void } })._socket.pause();
}
function resume(s: RawSocket): void {
  (s.ws as unknown as { _socket: { resume(): void } })._socket.resume();
}

it('disconnects a client whose queue stays over the limit, with a reason, while others are served', async () => {
  const slow = await joinedSocket(t.url, 'slow');
  pause(slow);
  const other = new RebindClient(t.url, { reconnect: false });
  await other.connect();
  await other.join({ name: 'fine' });
  // 51 MB in 800 ms: more than the kernel's buffers hold, so the queue stays over 512 KB.
  for (let i = 0; i < 40 && slow.ws.readyState === 1; i++) {
    slow.sendBinary(['game.flood', 0, { n: 20 }]);
    await sleep(20);
  }
  resume(slow);
  const closed = await slow.closed;
  expect(closed.code).toBe(1008);
  expect(closed.reason).toBe('send buffer full: the client is not reading fast enough (over 524288 bytes waiting for 0.3 s)');
  expect(await other.call('game.hello')).toBe('hi');
  await waitFor(() => t.server.gateway.connectionCount === 1, 3000, 'the slow connection to go');
  other.close();
});

it('stops queueing for a client far behind and disconnects it without waiting for the clock', async () => {
  const slow = await joinedSocket(strict.url, 'behind');
  pause(slow);
  const rssBefore = process.memoryUsage().rss;
  // 20 MB asked for in one turn; nothing past the 8 MB ceiling is queued.
  slow.sendBinary(['game.flood', 0, { n: 320 }]);
  await sleep(300);
  resume(slow);
  const closed = await slow.closed;
  expect(closed.code).toBe(1008);
  expect(closed.reason).toBe('send buffer full: the client is not reading fast enough (over 8388608 bytes waiting)');
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 2 ** 20);
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
