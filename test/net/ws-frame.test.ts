import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { binaryFrame, idleSocket } from '../../server/net/ws-frame.ts';

// Frames written raw to a socket (a room's tick, framed once for all its
// members) must read, for a real ws client, exactly as ws.send's would, in
// order with what ws itself sends, at every length form of the header.

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

async function pair(perMessageDeflate = false): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  servers.push(wss);
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate });
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  return { server, client };
}

function received(client: WebSocket, count: number): Promise<Array<{ data: Buffer; binary: boolean }>> {
  const out: Array<{ data: Buffer; binary: boolean }> = [];
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('message', (data, binary) => {
      out.push({ data: data as Buffer, binary });
      if (out.length === count) resolve(out);
    });
  });
}

describe('raw frames (ws-frame.ts)', () => {
  for (const deflate of [false, true]) {
    it(`read as ws's own, in order with ws.send, at every header length${deflate ? ', with permessage-deflate agreed' : ''}`, async () => {
      const { server, client } = await pair(deflate);
      // 0, the 7-bit limit and past it, the 16-bit limit and past it.
      const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000];
      const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1));
      const got = received(client, payloads.length * 2);
      let raw = 0;
      for (const p of payloads) {
        // As Connection.deliver does: raw when ws has nothing waiting (with deflate, ws compresses its own large sends asynchronously).
        const socket = idleSocket(server);
        if (socket) raw++, socket.write(binaryFrame(p));
        else server.send(p);
        server.send(Buffer.concat([Buffer.from('ws:'), p]));
      }
      expect(raw).toBeGreaterThanOrEqual(deflate ? 1 : payloads.length);
      const messages = await got;
      messages.forEach((m, i) => {
        const p = payloads[i >> 1]!;
        expect(m.binary).toBe(true);
        expect(m.data.equals(i % 2 === 0 ? p : Buffer.concat([Buffer.from('ws:'), p]))).toBe(true);
      });
    });
  }

  it('are not written while ws has frames of its own waiting (a compression under way)', async () => {
    const { server } = await pair(true);
    // A large message is compressed asynchronously: ws holds what follows until it is done.
    server.send(Buffer.alloc(200_000, 7), { compress: true });
    server.send(Buffer.from('after'), { compress: true });
    expect(idleSocket(server)).toBeUndefined();
  });
});
