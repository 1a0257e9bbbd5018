import { Packr } from 'msgpackr';
import { afterEach, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { RebindClient } from '../../client/index.ts';

// A frame the client cannot use (not an array, an array whose head is
// neither an event nor a seq, bytes that are not MessagePack) is said as a
// BAD_FRAME error and ignored. It used to throw out of the socket's message
// handler: a TypeError that ended the client's process.

let wss: WebSocketServer | undefined;
afterEach(async () => {
  await new Promise((resolve) => wss?.close(resolve) ?? resolve(undefined));
  wss = undefined;
});

async function serverSending(frames: Array<string | Buffer>): Promise<string> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss!.once('listening', resolve));
  wss.on('connection', (socket) => {
    // Once the client listens (its handler is set when connect() resolves), then a frame it can use: a push of an event.
    setTimeout(() => {
      for (const frame of frames) socket.send(frame);
      socket.send(new Packr({ useRecords: false }).pack(['hello', 0, { ok: true }]));
    }, 200);
  });
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
}

it('frames the client cannot use are BAD_FRAME errors, ignored; the frames after them are read', async () => {
  const pack = (v: unknown) => new Packr({ useRecords: false }).pack(v);
  const url = await serverSending([pack({ not: 'a reply' }), pack([null, 0, 1]), pack('text'), Buffer.from([0xc1, 0xc1]), '{"not":"json array"}', 'not json at all']);
  const c = new RebindClient(url, { reconnect: false });
  const errors: Array<{ code?: string; message?: string }> = [];
  c.on('error', (err) => errors.push(err as { code?: string }));
  const hello = new Promise((resolve) => c.on('hello', resolve));
  await c.connect();
  expect(await hello).toEqual({ ok: true });
  expect(errors.map((e) => e.code)).toEqual(['BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME', 'BAD_FRAME']);
  expect(errors[0]!.message).toMatch(/neither \[event, \.\.\.\] nor \[seq, \.\.\.\]/);
  c.close();
});
