import { Packr } from 'msgpackr';
import { afterEach, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { RebindClient } from '../../client/index.ts';

// A frame the client cannot use (not an array, an array whose head is
// neither an event nor a seq, bytes that are not MessagePack, a sync push or
// a redirect of the wrong shape, an error reply that is not {code, message})
// is said as a typed error and ignored; the calls still waiting go on. It
// used to throw out of the socket's message handler: a TypeError that ended
// the client's process, or left its calls waiting for ever.

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

it.each([
  ['["$state",0,null]', 'BAD_SYNC'],
  ['["$patch",0,null]', 'BAD_SYNC'],
  ['["$delta",0,null]', 'BAD_SYNC'],
  ['["$delta",0,5]', 'BAD_SYNC'],
  ['["$state",0,{"room":"r","stores":{},"keys":5}]', 'BAD_SYNC'],
  ['["$redirect",0,null]', 'BAD_FRAME'],
  ['["$redirect",0,{"url":5}]', 'BAD_FRAME'],
  ['[999,1,"x"]', 'BAD_FRAME'],
  ['[999,1,null]', 'BAD_FRAME'],
])('a push or reply of the wrong shape (%s) is a %s error; the call waiting goes on', async (frame, code) => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss!.once('listening', resolve));
  wss.on('connection', (socket) =>
    socket.on('message', (data) => {
      const [, seq] = JSON.parse(String(data)) as [string, number];
      socket.send(frame);
      setTimeout(() => socket.send(JSON.stringify([seq, 0, 'late ok'])), 100);
    }),
  );
  const c = new RebindClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { reconnect: false, encoding: 'json' });
  const errors: Array<{ code?: string }> = [];
  c.on('error', (err) => errors.push(err as { code?: string }));
  await c.connect();
  expect(await c.call('x.y' as never, {} as never)).toBe('late ok');
  expect(errors.map((e) => e.code)).toEqual([code]);
  c.close();
});

it('an error reply to a waiting call that is not {code, message} rejects it as BAD_FRAME, typed', async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss!.once('listening', resolve));
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(JSON.stringify([(JSON.parse(String(data)) as [string, number])[1], 1, 5]))));
  const c = new RebindClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { reconnect: false, encoding: 'json' });
  await c.connect();
  await expect(c.call('x.y' as never, {} as never)).rejects.toMatchObject({ code: 'BAD_FRAME', message: expect.stringContaining('not {code, message}: 5') });
  c.close();
});
