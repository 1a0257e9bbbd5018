import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// A handler may throw anything: an object with no prototype (String() of it
// throws), a revoked Proxy (instanceof on it throws), a Proxy whose every trap
// throws. The dispatcher must count the failure, log it and answer the caller
// with HANDLER_ERROR naming the handler, reading the value only through
// thrown.ts; before, its own TypeError escaped first, so the per-version
// counters never saw the failure and a patch's verification judged a version
// that failed every call UNVERIFIED and kept it.

const HOSTILE = `import { client } from '../server/api';
const trap = () => { throw new Error('trap'); };
const hostile = () => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; };
export const nullProto = client(() => { throw Object.create(null); });
export const revokedProxy = client(() => { throw revoked(); });
export const trapProxy = client(() => { throw hostile(); });
export const noPrimitive = client(() => { throw { [Symbol.toPrimitive]() { throw new Error('no primitive'); } }; });
export const rejectsHostile = client(async () => { await null; throw hostile(); });
export const rejectsRevoked = client(async () => { await null; throw revoked(); });
`;

const V1 = `import { client } from '../server/api';
export const act = client(() => 'fine');
`;
// Fails every call, with a bare object made by Object.create(null).
const V2_NULL_PROTO = `import { client } from '../server/api';
export const act = client(() => { throw Object.create(null); });
`;

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function player(url: string, name: string): Promise<RebindClient> {
  const c = new RebindClient(url, { reconnect: false });
  await c.connect();
  await c.join({ name });
  return c;
}

async function failure(c: RebindClient, handler: string): Promise<{ code?: string; message?: string }> {
  try {
    await c.call(handler, {});
  } catch (err) {
    return err as { code?: string; message?: string };
  }
  throw new Error(`${handler} answered instead of failing`);
}

it('a handler throwing a value that cannot be printed is a counted, logged HANDLER_ERROR that names the handler', async () => {
  t = await startServer({ 'logic/bad.ts': HOSTILE });
  const c = await player(t.url, 'ann');
  const expected: Record<string, RegExp> = {
    'bad.nullProto': /^bad\.nullProto failed: \S/,
    'bad.revokedProxy': /^bad\.revokedProxy failed: /,
    'bad.trapProxy': /^bad\.trapProxy failed: /,
    'bad.noPrimitive': /^bad\.noPrimitive failed: /,
    'bad.rejectsHostile': /^bad\.rejectsHostile failed: /,
    'bad.rejectsRevoked': /^bad\.rejectsRevoked failed: /,
  };
  for (const [handler, message] of Object.entries(expected)) {
    const err = await failure(c, handler);
    expect(err.code, handler).toBe('HANDLER_ERROR');
    expect(err.message, handler).toMatch(message);
    // Not the server's own TypeError about the value (what the caller got before).
    expect(err.message, handler).not.toMatch(/Cannot convert object to primitive value|Cannot perform|has been revoked|failed: trap$/);
    const stats = t.server.host.dispatcher.stats.get(handler)!;
    expect(stats, handler).toMatchObject({ calls: 1, errors: 1, lastError: { code: 'HANDLER_ERROR' } });
    expect(typeof stats.lastError!.message, handler).toBe('string');
    // Counted for its version too (what a patch's verification and /metrics read).
    const version = t.server.host.dispatcher.callStats.for(handler, t.server.host.bindings.live.get('bad')!);
    expect({ calls: version.calls, errors: version.errors }, handler).toEqual({ calls: 1, errors: 1 });
  }
  // The connection survived all of it.
  expect(await failure(c, 'bad.nullProto')).toMatchObject({ code: 'HANDLER_ERROR' });
  c.close();
}, 30_000);

it('patch --verify rolls back a version that throws Object.create(null) on every call (was UNVERIFIED and kept)', async () => {
  t = await startServer({ 'logic/p18.ts': V1 }, { tickHz: 20 });
  const clients = await Promise.all([0, 1, 2, 3].map((i) => player(t!.url, `v${i}`)));
  let running = true;
  const codes = new Map<string, number>();
  const loops = clients.map(async (c) => {
    while (running) {
      try {
        await c.call('p18.act', {});
        codes.set('ok', (codes.get('ok') ?? 0) + 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'none';
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (code === 'RATE_LIMITED' || code === 'DISCONNECTED') await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
  t.project.write('logic/p18.ts', V2_NULL_PROTO);
  const patch = await t.server.host.engine.patch({ modules: ['p18'], origin: 'cli', verify: { windowMs: 10_000 } });
  expect(patch).toMatchObject({ ok: true, noop: false });
  const report = await t.server.host.engine.verification(patch.id)!;
  running = false;
  await Promise.all(loops);
  for (const c of clients) c.close();
  expect(report.outcome).toBe('rolled-back');
  expect(report.new.errors).toBeGreaterThanOrEqual(10);
  expect(report.reason).toMatch(/error rate/);
  // Each failure reached the players as the handler's failure.
  expect(codes.get('HANDLER_ERROR')).toBeGreaterThanOrEqual(10);
  const last = t.server.host.dispatcher.stats.get('p18.act')!.lastError!;
  expect(last.code).toBe('HANDLER_ERROR');
  expect(last.message).not.toMatch(/Cannot convert/);
}, 60_000);
