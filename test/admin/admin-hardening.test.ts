import { existsSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { connect, target } from '../helpers/attack.ts';
import { COUNTER_STATE, sleep } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// The admin channel trusts only what it saw: the token, its own dashboard's
// origin, the address of the socket; names are looked up among own keys.

const TOKEN = 'a-token-shared-by-mistake-0123456789';
let t: TestServer;
let warnings = '';
const saved = process.env.REBIND_ADMIN_TOKEN;
beforeAll(async () => {
  delete process.env.REBIND_ADMIN_TOKEN;
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    warnings += String(chunk);
    return true;
  });
  try {
    // Written with the default umask: readable by everyone.
    t = await startServer({ 'state/counter.ts': COUNTER_STATE, 'data/admin.token': TOKEN + '\n' }, { adminPort: 0 });
  } finally {
    spy.mockRestore();
  }
});
afterAll(async () => {
  await t.stop();
  if (saved !== undefined) process.env.REBIND_ADMIN_TOKEN = saved;
});

function open(headers: Record<string, string>): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(t.server.admin!.url, { headers });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode! }));
    ws.once('error', () => undefined);
  });
}

async function admin(): Promise<(name: string, args?: Record<string, unknown>) => Promise<[number, number, any]>> {
  const { ws } = await open({ authorization: `Bearer ${TOKEN}` });
  let seq = 0;
  return (name, args = {}) =>
    new Promise((resolve) => {
      const mine = ++seq;
      const onMessage = (data: WebSocket.RawData) => {
        const reply = JSON.parse(String(data));
        if (reply[0] !== mine) return;
        ws!.off('message', onMessage);
        resolve(reply);
      };
      ws!.on('message', onMessage);
      ws!.send(JSON.stringify([name, mine, args]));
    });
}

function auditLines(): Array<Record<string, unknown>> {
  if (!existsSync(t.server.admin!.audit.file)) return [];
  return readFileSync(t.server.admin!.audit.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

it('warns when an existing admin.token is readable by others, and says how to fix it', () => {
  expect(warnings).toMatch(/admin\.token is readable by others \(mode 0644\).*chmod 600/);
});

it('knows no action by an inherited name, audits none as done, and reads no inherited path', async () => {
  const request = await admin();
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const [, failed, error] = await request(name);
    expect([failed, error.code]).toEqual([1, 'UNKNOWN_ACTION']);
  }
  expect(auditLines().filter((l) => ['constructor', 'toString', '__proto__', 'hasOwnProperty'].includes(l.action as string))).toEqual([]);
  for (const path of ['constructor', 'n.constructor', 'log.length.toString']) {
    const [, failed, error] = await request('state', { store: 'counter', path });
    expect([failed, error.code]).toEqual([1, 'UNKNOWN_PATH']);
  }
  expect((await request('state', { store: 'counter', path: 'n' }))[2]).toBe(0);
});

it('records the address it saw apart from the name the client claims', async () => {
  const request = await admin();
  await request('rollback', { module: 'nothing', origin: 'alice-from-ops@10.0.0.9' });
  const line = auditLines().at(-1)!;
  expect(line).toMatchObject({ action: 'rollback', origin: 'alice-from-ops_10_0_0_9', address: '127.0.0.1' });
  const [, , history] = await request('history', {});
  expect(JSON.stringify(history)).not.toContain('@10.0.0.9');
});

it('refuses browser pages other than its own dashboard, whatever the token', async () => {
  const port = t.server.admin!.port;
  const token = { authorization: `Bearer ${TOKEN}` };
  expect((await open({ ...token, origin: 'http://evil.example' })).status).toBe(403);
  expect((await open({ ...token, origin: `http://localhost:${port + 1}` })).status).toBe(403);
  // DNS rebinding: the page's name resolves to 127.0.0.1, Host and Origin agree.
  expect((await open({ ...token, origin: `http://evil.example:${port}`, host: `evil.example:${port}` })).status).toBe(403);
  const own = await open({ ...token, origin: `http://127.0.0.1:${port}` });
  expect(own.status).toBe(101);
  own.ws!.close();
  const cli = await open(token);
  expect(cli.status).toBe(101);
  cli.ws!.close();
  expect(auditLines().some((l) => String(l.result).startsWith('refused browser origin http://evil.example'))).toBe(true);
});

it('cannot be locked against the operator by idle sockets from the same address', async () => {
  const where = target(t.server.admin!.url);
  const idle = await Promise.all(Array.from({ length: 40 }, () => connect(where)));
  await sleep(1100);
  const cli = await open({ authorization: `Bearer ${TOKEN}` });
  expect(cli.status).toBe(101);
  cli.ws!.close();
  for (const s of idle) s.destroy();
});

it('audits a flood of wrong tokens in a few lines that say how big it was', async () => {
  const before = auditLines().filter((l) => l.action === 'auth').length;
  // Reset during the delay: nobody waits for the answers.
  const where = target(t.server.admin!.url);
  for (let i = 0; i < 40; i++) {
    const s = await connect(where);
    s.write(`GET /?token=wrong${i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await sleep(5);
    s.resetAndDestroy();
  }
  await sleep(100);
  const lines = auditLines().filter((l) => l.action === 'auth').slice(before);
  expect(lines.length).toBeLessThanOrEqual(7);
  expect(String(lines.at(-1)!.result)).toMatch(/bad token \(failure 32 in a row\)/);
});
