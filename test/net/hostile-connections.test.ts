import { execSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { adminRequest } from '../helpers/admin.ts';
import { connect, maskedFrame, openMany, readUntil, readUntilClose, sendThenReset, target, upgradeRequest, type Target } from '../helpers/attack.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { sleep, TempProject } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

// The acceptance suite of the availability work: a real server process,
// attacked on both ports at every stage of a connection, then flooded with
// 10,000 idle sockets. A socket 'error' nobody listens to would end the
// process; a player locked out or disconnected would show below.

const TOKEN = 'hostile-suite-token-0123456789';

// Both this process and the server hold one descriptor per idle socket. Under a
// lower `ulimit -n` than 10,000 plus headroom, the flood is scaled down and says so.
const FD_LIMIT = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim()) || Infinity;
const IDLE = Math.min(10_000, Math.floor((FD_LIMIT - 1000) / 1000) * 1000);
if (IDLE < 10_000) console.warn(`hostile-connections: ulimit -n is ${FD_LIMIT}, so ${IDLE} idle sockets instead of 10,000`);
const GAME = `
import { client } from '../server/api';
export const echo = client((ctx: unknown, p: unknown) => p);
`;

let project: TempProject;
let server: ServerProcess;
let game: Target;
let admin: Target;
const players: RebindClient[] = [];
const disconnects: string[] = [];

beforeAll(async () => {
  project = new TempProject({ 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE, 'logic/game.ts': GAME });
  server = await startServerProcess(['--root', project.root, '--data', project.path('data'), '--auth-timeout', '2'], { REBIND_ADMIN_TOKEN: TOKEN });
  game = target(server.gameUrl);
  admin = target(server.adminUrl);
  for (const name of ['steady', 'bystander']) {
    const c = new RebindClient(server.gameUrl, { reconnect: false });
    await c.connect();
    await c.join({ name });
    c.on('close', (ev) => disconnects.push(`${name}: ${JSON.stringify(ev)}`));
    players.push(c);
  }
});

afterAll(async () => {
  for (const c of players) c.close();
  await server?.kill();
  project?.cleanup();
});

async function medianLatency(c: RebindClient, n = 30): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    expect(await c.call('game.echo', { i })).toEqual({ i });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

function adminStatus(): Promise<{ players: { connected: number } }> {
  return adminRequest(server.adminUrl, TOKEN, 'status');
}

/** Every way a connection can be torn down part way, on one port. */
function resetsAtEveryStage(t: Target, path: string, afterUpgrade: boolean): Array<Promise<unknown>> {
  const upgrade = upgradeRequest(t, path);
  const attempts: Array<Promise<unknown>> = [];
  for (let i = 0; i < 5; i++) {
    attempts.push(sendThenReset(t, '', 0)); // TCP only
    attempts.push(sendThenReset(t, 'GET / HTTP/1.1\r\nHost: x\r\nUpgr', 2)); // half the headers
    for (const ms of [0, 1, 5, 20, 150]) attempts.push(sendThenReset(t, upgrade, ms)); // during the upgrade (and the admin's delay)
    attempts.push(sendThenReset(t, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 0)); // a page request, reset before the answer
    attempts.push(
      // A torn upgrade: half the request, then an orderly close.
      (async () => {
        const s = await connect(t);
        s.end(upgrade.slice(0, upgrade.length >> 1));
        await readUntilClose(s, 3000);
      })(),
    );
    if (afterUpgrade) {
      attempts.push(
        (async () => {
          const s = await connect(t);
          s.write(upgrade);
          await readUntil(s);
          // Half a frame, then a reset; and a whole request whose reply meets a reset socket.
          const frame = maskedFrame(Buffer.from(JSON.stringify(['$auth', 1, { name: `torn${i}` }])), 0x1);
          s.write(i % 2 === 0 ? frame.subarray(0, 5) : frame);
          s.resetAndDestroy();
        })(),
      );
    }
  }
  return attempts;
}

it('survives resets at every stage on both ports, oversized headers and torn upgrades, and keeps serving', async () => {
  const baseline = await medianLatency(players[0]!);
  await Promise.all([...resetsAtEveryStage(game, '/', true), ...resetsAtEveryStage(admin, '/?token=wrong', false)]);
  // The right token, reset during and after its upgrade.
  for (const ms of [0, 5, 50]) await sendThenReset(admin, upgradeRequest(admin, '/', { authorization: `Bearer ${TOKEN}` }), ms);

  // Oversized headers: refused with 431 on both ports, the process untouched.
  for (const t of [game, admin]) {
    const s = await connect(t);
    s.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    const { data, closed } = await readUntilClose(s);
    expect(data).toMatch(/^HTTP\/1\.1 431/);
    expect(closed).toBe(true);
  }

  expect(server.proc.exitCode).toBeNull();
  expect(server.output()).not.toMatch(/Unhandled 'error'|ECONNRESET/);
  expect((await adminStatus()).players.connected).toBe(2);
  expect(await medianLatency(players[0]!)).toBeLessThan(Math.max(baseline * 5, baseline + 50));
  expect(disconnects).toEqual([]);
});

it(`holds ${IDLE.toLocaleString('en')} idle sockets without locking players out, then closes them by itself`, async () => {
  const baseline = await medianLatency(players[0]!);
  const upgraded: Array<Promise<{ data: string; closed: boolean }>> = [];
  // Half never send a byte; half complete a WebSocket upgrade and never $auth. 200 per address.
  const silentEnds: Array<Promise<{ data: string; closed: boolean }>> = [];
  const silent = await openMany(game, IDLE / 2, 200, (s) => silentEnds.push(readUntilClose(s, 25_000)));
  const idle = await openMany(game, IDLE / 2, 200, (s) => {
    s.write(upgradeRequest(game));
    upgraded.push(readUntilClose(s, 20_000));
  }, Math.ceil(IDLE / 2 / 200));
  // A newcomer gets in and is served during the flood.
  const newcomer = new RebindClient(server.gameUrl, { reconnect: false });
  await newcomer.connect();
  await newcomer.join({ name: 'newcomer' });
  expect(await newcomer.call('game.echo', 1)).toBe(1);
  newcomer.close();

  // One address past its share gets a 429 with a reason, at once.
  const crowd = await openMany(game, 260, 260, () => undefined, 100);
  const turnedAway = await Promise.all(crowd.slice(256).map((s) => readUntilClose(s, 3000)));
  for (const r of turnedAway) expect(r.data).toMatch(/^HTTP\/1\.1 429[^]*too many connections from 127\.0\.1\.101 \(limit 256/);
  for (const s of crowd) s.destroy();

  // Idle WebSockets are told why after the 2 s auth timeout (4002); silent sockets fall to the headers timeout.
  const ends = await Promise.all(upgraded);
  const summary = new Map<string, number>();
  for (const e of ends) {
    const key = `${e.closed ? 'closed' : 'open'} ${e.data.slice(0, 12)}`;
    summary.set(key, (summary.get(key) ?? 0) + 1);
  }
  expect(Object.fromEntries(summary)).toEqual({ 'closed HTTP/1.1 101': IDLE / 2 });
  expect(ends[0]!.data).toContain('no $auth or $resume within 2 s');
  expect((await Promise.all(silentEnds)).filter((e) => !e.closed)).toEqual([]);
  for (const s of [...silent, ...idle]) s.destroy();

  await sleep(200);
  expect(server.proc.exitCode).toBeNull();
  expect((await adminStatus()).players.connected).toBe(2);
  expect(await medianLatency(players[0]!)).toBeLessThan(Math.max(baseline * 5, baseline + 50));
  expect(await players[1]!.call('game.echo', 'still here')).toBe('still here');
  expect(disconnects).toEqual([]);
}, 90_000);
