import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawSocket, startServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startServer({}, { limits: { maxConnections: 3 } });
});
afterAll(async () => t.stop());

it('turns away connections past the limit with 1013 and a reason, and takes them again once there is room', async () => {
  const sockets = [new RawSocket(t.url), new RawSocket(t.url), new RawSocket(t.url)];
  await Promise.all(sockets.map((s) => s.open()));
  const extra = new RawSocket(t.url);
  expect(await extra.closed).toEqual({ code: 1013, reason: 'server full (3 connections)' });
  sockets[0]!.close();
  await sockets[0]!.closed;
  await new Promise((r) => setTimeout(r, 50));
  const again = new RawSocket(t.url);
  await again.open();
  again.sendBinary(['$ping', 1, null]);
  expect((await again.reply())[1]).toBe(0);
  for (const s of [...sockets, again]) s.close();
});
