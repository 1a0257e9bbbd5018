import { afterAll, beforeAll, expect, it } from 'vitest';
import { joinedSocket, RawSocket, SESSION_MODULE, startServer, type TestServer } from '../helpers/server.ts';

// A join hook that throws refuses the player: an error reply, no session,
// no row, nothing of the join left in the stores, and the connection may try again.

const SESSION = SESSION_MODULE.replace(
  "export function join(ctx: Ctx) {",
  `export function join(ctx: Ctx) {
  if (ctx.player === 'p-late') return Promise.reject(new Error('the lobby closed'));
  sessionLog.update((d) => { d.push('join ' + ctx.player); });
  if (ctx.player === 'p-full') fail('ROOM_FULL', 'the lobby is full');`,
);

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'logic/session.ts': SESSION, 'logic/game.ts': `import { client } from '../server/api';\nexport const hi = client(() => 'hi');\n` });
});
afterAll(async () => t.stop());

function sessionLog(): string[] {
  return (t.server.host.registry.get('sessionLog') as unknown as { get(): string[] }).get();
}
function rows(): Record<string, unknown> {
  return (t.server.host.registry.get('$sessions') as unknown as { toObject(): Record<string, unknown> }).toObject();
}

it('refuses the player when join throws, leaving no session, no row and no write', async () => {
  const s = new RawSocket(t.url);
  await s.open();
  s.sendBinary(['$auth', 1, { name: 'full' }]);
  const [, failed, error] = await s.reply();
  expect([failed, error.code, error.message]).toEqual([1, 'ROOM_FULL', 'the lobby is full']);
  s.sendBinary(['game.hi', 2, null]);
  expect((await s.reply())[2].code).toBe('NOT_JOINED');
  expect(t.server.gateway.sessions.size).toBe(0);
  expect(rows()).toEqual({});
  expect(sessionLog()).toEqual([]);
  // The same connection may join as someone else.
  s.sendBinary(['$auth', 3, { name: 'ok' }]);
  expect(await s.reply()).toMatchObject([3, 0, { player: 'p-ok', resumed: false }]);
  s.sendBinary(['game.hi', 4, null]);
  expect(await s.reply()).toEqual([4, 0, 'hi']);
  expect(Object.keys(rows())).toEqual(['p-ok']);
  s.close();
});

it('refuses the player when an async join rejects, and logic hears leave for what it began', async () => {
  const s = new RawSocket(t.url);
  await s.open();
  s.sendBinary(['$auth', 1, { name: 'late' }]);
  const [, failed, error] = await s.reply();
  expect(failed).toBe(1);
  expect(error.message).toMatch(/the lobby closed/);
  expect(t.server.gateway.sessions.get('p-late')).toBeUndefined();
  expect(rows()['p-late']).toBeUndefined();
  expect(sessionLog()).toContain('leave p-late');
  s.close();
  const other = await joinedSocket(t.url, 'after');
  other.close();
});

it('keeps the connection\'s deadline to join through refused joins', async () => {
  const strict = await startServer({ 'logic/session.ts': SESSION }, { limits: { authTimeoutMs: 600 } });
  try {
    const s = new RawSocket(strict.url);
    await s.open();
    const started = Date.now();
    // A refused join every 100 ms does not buy more time.
    for (let i = 0; i < 20 && s.ws.readyState === 1; i++) {
      s.sendBinary(['$auth', 0, { name: 'full' }]);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await s.closed).code).toBe(4002);
    expect(Date.now() - started).toBeLessThan(1500);
  } finally {
    await strict.stop();
  }
});

it('makes no player of a connection that closed while its async auth ran', async () => {
  const slowAuth = SESSION.replace("export function auth(ctx: Ctx, p: { name?: string }) {", "export async function auth(ctx: Ctx, p: { name?: string }) {\n  await new Promise((r) => setTimeout(r, 200));");
  const s2 = await startServer({ 'logic/session.ts': slowAuth });
  try {
    const s = new RawSocket(s2.url);
    await s.open();
    s.sendBinary(['$auth', 1, { name: 'gone' }]);
    s.close();
    await new Promise((r) => setTimeout(r, 400));
    expect(s2.server.gateway.sessions.size).toBe(0);
    expect((s2.server.host.registry.get('$sessions') as unknown as { size: number }).size).toBe(0);
  } finally {
    await s2.stop();
  }
});
