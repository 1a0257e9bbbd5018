import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTER_STATE } from '../helpers/project.ts';
import { joinedSocket, RawSocket, startServer, type TestServer } from '../helpers/server.ts';

const GAME = `
import { client, fail, type Ctx } from '../server/api';
import { counter } from '../state/counter';
export const echo = client((ctx: Ctx, p: unknown) => ({ you: ctx.player, p }));
export const later = client(async (ctx: Ctx, p: { ms: number }) => { await new Promise((r) => setTimeout(r, p.ms)); return 'done'; });
export const bump = client(() => counter.update((d) => { d.n++; }).n);
export const crash = client(() => { counter.update((d) => { d.n = -1; }); throw new Error('secret internals'); });
export const refuse = client(() => fail('NO_GOLD', 'not enough gold'));
export const ping = client((ctx: Ctx) => { ctx.send(ctx.player!, 'pong', { at: 1 }); return null; });
export function internal() { return 'hidden'; }
export const cyclic = client(() => { const a: any = { name: 'loop' }; a.self = a; return a; });
export const big = client(() => 10n);
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ 'state/counter.ts': COUNTER_STATE, 'logic/game.ts': GAME }, { limits: { maxMessageBytes: 1024, ratePerSecond: 50, rateBurst: 50 } });
});
afterAll(async () => t.stop());

describe('wire protocol', () => {
  it('answers binary requests in MessagePack and text requests in JSON, with the same shapes', async () => {
    const bin = await joinedSocket(t.url, 'bin', true);
    bin.sendBinary(['game.echo', 7, { a: [1, 2] }]);
    expect(await bin.reply()).toEqual([7, 0, { you: 'p-bin', p: { a: [1, 2] } }]);
    const text = await joinedSocket(t.url, 'text', false);
    text.sendText(['game.echo', 8, { a: 'x' }]);
    const raw = await new Promise<{ data: unknown; isBinary: boolean }>((resolve) => text.ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
    expect(raw.isBinary).toBe(false);
    expect(JSON.parse(String(raw.data))).toEqual([8, 0, { you: 'p-text', p: { a: 'x' } }]);
    bin.close();
    text.close();
  });

  it('replies to async handlers, pushes [event, 0, payload], and sends no reply for seq 0', async () => {
    const s = await joinedSocket(t.url, 'async');
    s.sendBinary(['game.later', 3, { ms: 30 }]);
    s.sendBinary(['game.ping', 0, null]);
    expect(await s.push('pong')).toEqual({ at: 1 });
    expect(await s.reply()).toEqual([3, 0, 'done']);
    s.sendBinary(['game.bump', 0, null]);
    s.sendBinary(['$ping', 4, null]);
    const reply = await s.reply();
    expect(reply[0]).toBe(4); // nothing came back for the seq-0 bump
    s.close();
  });

  it('answers every error with its code', async () => {
    const s = await joinedSocket(t.url, 'errors');
    const counter = t.server.host.registry.get('counter') as unknown as { get(): { n: number } };
    const before = counter.get().n;
    const ask = async (frame: unknown[]) => {
      s.sendBinary(frame);
      return s.reply();
    };
    expect(await ask(['game.nothing', 1, null])).toEqual([1, 1, { code: 'UNKNOWN_HANDLER', message: 'no handler named "game.nothing"' }]);
    expect((await ask(['game.internal', 2, null]))[2].code).toBe('NOT_PUBLIC');
    const crash = await ask(['game.crash', 3, null]);
    expect(crash[2]).toEqual({ code: 'HANDLER_ERROR', message: 'game.crash failed: secret internals' });
    expect(JSON.stringify(crash)).not.toContain('at '); // no stack on the wire
    expect(await ask(['game.refuse', 4, null])).toEqual([4, 1, { code: 'NO_GOLD', message: 'not enough gold' }]);
    expect(await ask(['game.echo', 5, 'x'.repeat(2000)])).toEqual([5, 1, { code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/^request of \d+ bytes is over the limit of 1024$/) }]);
    s.sendText(['game.echo', 55, 'y'.repeat(2000)]);
    expect((await s.reply()).slice(0, 2)).toEqual([55, 1]);
    expect((await ask(['game.echo', 6]))[2].code).toBe('BAD_FRAME');
    expect((await ask([42, 7, null]))[2].code).toBe('BAD_FRAME');
    s.sendRaw(Buffer.from([0xc1, 0xff, 0x00]));
    expect(await s.reply()).toEqual([0, 1, expect.objectContaining({ code: 'BAD_FRAME' })]);
    s.sendRaw('{not json', false);
    expect((await s.reply())[2]).toMatchObject({ code: 'BAD_FRAME', message: expect.stringContaining('not valid JSON') });
    const unjoined = new RawSocket(t.url);
    await unjoined.open();
    unjoined.sendBinary(['game.echo', 1, null]);
    expect((await unjoined.reply())[2].code).toBe('NOT_JOINED');
    unjoined.sendBinary(['$auth', 2, { name: '' }]);
    expect((await unjoined.reply())[2]).toEqual({ code: 'BAD_NAME', message: 'give a name' });
    expect((await ask(['game.cyclic', 10, null]))[2]).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('game.cyclic returned what a reply cannot carry (result.self: a cycle') });
    s.sendText(['game.big', 11, null]);
    expect((await s.reply())[2]).toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('game.big returned what a reply cannot carry (result: a bigint') });
    // The crash changed nothing.
    s.sendBinary(['game.bump', 9, null]);
    expect(await s.reply()).toEqual([9, 0, before + 1]);
    s.close();
    unjoined.close();
  });

  it('rate-limits a connection that sends too fast', async () => {
    const s = await joinedSocket(t.url, 'fast');
    for (let i = 1; i <= 120; i++) s.sendBinary(['$ping', i, null]);
    const codes: string[] = [];
    for (let i = 0; i < 120; i++) {
      const r = await s.reply();
      if (r[1] === 1) codes.push(r[2].code);
    }
    expect(codes.length).toBeGreaterThan(50);
    expect(new Set(codes)).toEqual(new Set(['RATE_LIMITED']));
    s.close();
  });

  it('closes a connection with 1009 for a frame over the limit and 1008 for repeated garbage', async () => {
    const big = await joinedSocket(t.url, 'big');
    big.sendRaw(Buffer.alloc(10 * 1024 * 1024, 1));
    expect((await big.closed).code).toBe(1009);
    const junk = new RawSocket(t.url);
    await junk.open();
    for (let i = 0; i < 12; i++) junk.sendRaw(Buffer.from([0xc1, i]));
    expect(await junk.closed).toEqual({ code: 1008, reason: 'too many bad frames' });
  });
});
