import WebSocket from 'ws';
import { afterEach, expect, it } from 'vitest';
import { addressKey } from '../../server/net/guard.ts';
import { Heartbeat } from '../../server/net/heartbeat.ts';
import { connect, readUntilClose, target } from '../helpers/attack.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { joinedSocket, RawSocket, startServer, type TestServer } from '../helpers/server.ts';

// Idle sockets must not lock players out: a time limit to join, a seat
// given up on a full server, a cap per address, HTTP timeouts.

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('closes a connection that does not join in time with 4002, and restarts the clock after $leave', async () => {
  t = await startServer({}, { limits: { authTimeoutMs: 300 } });
  const idle = new RawSocket(t.url);
  await idle.open();
  const player = await joinedSocket(t.url, 'ann');
  expect(await idle.closed).toEqual({ code: 4002, reason: 'no $auth or $resume within 0.3 s' });
  await sleep(400);
  player.sendBinary(['$ping', 2, null]);
  expect((await player.reply())[1]).toBe(0);
  player.sendBinary(['$leave', 3, null]);
  expect((await player.reply())[2]).toEqual({ left: 'p-ann' });
  expect((await player.closed).code).toBe(4002);
});

it('gives the seat of a connection that has not joined for a second to a newcomer when full', async () => {
  t = await startServer({}, { limits: { maxConnections: 3 } });
  const idle = [new RawSocket(t.url), new RawSocket(t.url)];
  await Promise.all(idle.map((s) => s.open()));
  const player = await joinedSocket(t.url, 'bob');
  // Too fresh to be evicted: a client in the middle of its handshake keeps its seat.
  const early = new RawSocket(t.url);
  expect((await early.closed).code).toBe(1013);
  await sleep(1100);
  const late = await joinedSocket(t.url, 'cat');
  expect(await idle[0]!.closed).toEqual({ code: 4002, reason: 'server full: a connection that had not joined made room' });
  expect(idle[1]!.ws.readyState).toBe(WebSocket.OPEN);
  for (const s of [player, late, idle[1]!]) s.close();
});

it('turns away an address past its share with a 429 that says why, and serves other addresses', async () => {
  t = await startServer({}, { limits: { maxConnectionsPerAddress: 2 } });
  const held = [new RawSocket(t.url), new RawSocket(t.url)];
  await Promise.all(held.map((s) => s.open()));
  const third = await new Promise<{ status: number; body: string }>((resolve) => {
    const ws = new WebSocket(t!.url);
    ws.on('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
  });
  expect(third).toEqual({ status: 429, body: 'too many connections from 127.0.0.1 (limit 2, --max-per-address)\n' });
  const other = new WebSocket(t.url, { localAddress: '127.0.0.2' });
  await new Promise((resolve, reject) => other.once('open', resolve).once('error', reject));
  other.close();
  held[0]!.close();
  await held[0]!.closed;
  await sleep(50);
  const again = new RawSocket(t.url);
  await again.open();
  for (const s of [held[1]!, again]) s.close();
});

it('at the per-address cap, gives up a socket of that address that has not joined for a second, never a player', async () => {
  t = await startServer({}, { limits: { maxConnectionsPerAddress: 2 } });
  const player = await joinedSocket(t.url, 'dan');
  const where = target(t.url);
  const idle = await connect(where);
  const idleEnd = readUntilClose(idle, 5000);
  await sleep(1100);
  const newcomer = await joinedSocket(t.url, 'eve');
  expect((await idleEnd).closed).toBe(true);
  // Now both seats hold players: the next one from this address is turned away.
  const third = await connect(where);
  expect((await readUntilClose(third, 3000)).data).toMatch(/^HTTP\/1\.1 429/);
  for (const s of [player, newcomer]) {
    s.sendBinary(['$ping', 5, null]);
    expect((await s.reply())[1]).toBe(0);
    s.close();
  }
});

it('closes sockets that send nothing, or their headers too slowly', async () => {
  t = await startServer({}, { httpTimeouts: { headersTimeoutMs: 500 } });
  const where = target(t.url);
  const silent = await connect(where);
  const dribble = await connect(where);
  const started = Date.now();
  const dripping = setInterval(() => dribble.writable && dribble.write('X'), 100);
  dribble.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const [a, b] = await Promise.all([readUntilClose(silent, 5000), readUntilClose(dribble, 5000)]);
  clearInterval(dripping);
  expect(a.closed).toBe(true);
  expect(b.closed).toBe(true);
  expect(b.data).toMatch(/^HTTP\/1\.1 408/);
  expect(Date.now() - started).toBeLessThan(4000);
});

it('counts an IPv6 /64 as one address, an IPv4-mapped address as its IPv4', () => {
  expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
  expect(addressKey('2001:0db8:0001:0002:aaaa::5')).toBe('2001:db8:1:2::/64');
  expect(addressKey('2001:db8:1:2:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
  expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
});

it('cuts a connection that stops answering pings, and its player is dropped like any cut connection', async () => {
  t = await startServer({}, { limits: { heartbeatMs: 150 } });
  const alive = await joinedSocket(t.url, 'alive');
  // A client whose pongs never come back (a vanished machine looks the same from the server).
  const dead = new WebSocket(t.url, { autoPong: false });
  dead.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => dead.once('close', (code) => resolve(code)));
  await new Promise((resolve) => dead.once('open', resolve));
  dead.send(JSON.stringify(['$auth', 1, { name: 'dead' }]));
  expect(JSON.parse(String(await new Promise((resolve) => dead.once('message', resolve))))[1]).toBe(0);
  expect(await closed).toBe(1006);
  await sleep(50);
  const log = (t.server.host.registry.get('sessionLog') as unknown as { get(): string[] }).get();
  expect(log).toContain('drop p-dead');
  expect(log).not.toContain('drop p-alive');
  alive.sendBinary(['$ping', 2, null]);
  expect((await alive.reply())[1]).toBe(0);
  alive.close();
});

it('judges nobody in the round that comes late after a stall of the event loop, when pongs are still unread', async () => {
  const peer = { answered: false, pings: 0, cut: false, ping() { this.pings++; }, terminate() { this.cut = true; } };
  const heartbeat = new Heartbeat(100, () => [peer]);
  try {
    // The loop is stalled past the first beat: the peer's pong (answered: false here) could not be read.
    const until = performance.now() + 350;
    while (performance.now() < until);
    await sleep(20);
    expect(peer).toMatchObject({ cut: false, pings: 1 });
    // A later round on time judges: no pong came, so the peer is cut.
    await waitFor(() => peer.cut, 3000, 'the peer to be cut');
  } finally {
    heartbeat.stop();
  }
});
