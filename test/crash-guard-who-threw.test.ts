import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { lastSnapshotOf, withGameProcess } from './helpers/game-process.ts';
import { waitFor } from './helpers/project.ts';

// Whose throw it was, when nothing caught it (attack 16a): ordinary mistakes of logic's stopped the
// server as if its own code had failed. A refusal the server made for logic's call (a store refusing
// a row, ctx.callRoom of a name that is no handler) reached the uncaughtException guard through an
// emitter that captures rejections, an fs callback's rethrow, or with logic's frame cut off below
// the server's own (Node keeps 10 frames); each is logic's mistake, logged, and the server goes on.

const SERVER_MAIN = fileURLToPath(new URL('../server/main.ts', import.meta.url));

const MISTAKES = `import { client, type Ctx } from '../server/api';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { counter } from '../state/counter';
import { rows } from '../state/rows';
export const bump = client(() => counter.update((d) => { d.n++; }).n);
export const emitterTypo = client((ctx: Ctx) => {
  const e = new EventEmitter({ captureRejections: true });
  e.on('go', async () => { await ctx.callRoom('lobby', 'mistakes.bumpp', {}); });
  e.emit('go');
  return 'emitted';
});
export const rethrow = client((ctx: Ctx) => {
  ctx.callRoom('lobby', 'mistakes.bumpp', {}).catch((e) => fs.stat('/', () => { throw e; }));
  return 'queued';
});
export const nestedBadWrite = client((ctx: Ctx, depth: number) => {
  fs.stat('/', () => {
    let bad: any = () => 1;
    for (let i = 0; i < depth; i++) bad = { inner: bad };
    rows.set('r1', { meta: bad });
  });
  return 'queued';
});
// Deliberate digging: a stack rewritten to name a file of the server's is taken for the server's fault.
export const spoofLater = client(async (ctx: Ctx, ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const e = new Error('spoofed');
  e.stack = 'Error: spoofed\\n    at whatever (${SERVER_MAIN}:1:1)';
  fs.stat('/', () => { throw e; });
  return 'thrown';
});
`;

const ROWS = `import { defineTable } from '../server/api';
export const rows = defineTable<{ meta: unknown }>('rows', { version: 1 });
`;

it("a refusal the server made for logic's call that logic let through (an emitter capturing rejections, a rethrow from an fs callback, a store's refusal deep in its checks) is logged and the server goes on (a real server)", async () => {
  await withGameProcess({ 'logic/mistakes.ts': MISTAKES, 'state/rows.ts': ROWS }, async (c, server, project) => {
    let n = 0;
    for (const [name, payload] of [['mistakes.emitterTypo', {}], ['mistakes.rethrow', {}], ['mistakes.nestedBadWrite', 3], ['mistakes.nestedBadWrite', 12], ['mistakes.nestedBadWrite', 40]] as const) {
      expect(await c.call(name, payload)).toMatch(/emitted|queued/);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await c.call('mistakes.bump'), `${name} ${JSON.stringify(payload)}`).toBe(++n);
    }
    const out = server.output();
    expect(out).not.toMatch(/stopping/);
    expect(out).toMatch(/uncaught UNKNOWN_HANDLER refusal made for logic's call/);
    expect(out).toMatch(/NOT_PLAIN_DATA/);
    c.close();
    expect(await server.stop()).toBe(0);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n });
  });
}, 120_000);

it('a fault in the server during a SIGTERM stop lets the stop finish and exits 1, not 0 (a real server; the fault is a stack rewritten to name the server)', async () => {
  await withGameProcess({ 'logic/mistakes.ts': MISTAKES, 'state/rows.ts': ROWS }, async (c, server, project) => {
    expect(await c.call('mistakes.bump')).toBe(1);
    // The call is still running when SIGTERM comes; the stop waits for it, and its callback throws then.
    const late = c.call('mistakes.spoofLater', 1500).catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const code = await server.stop();
    await late;
    expect(code).toBe(1);
    expect(server.output()).toMatch(/SIGTERM: closing clients and stopping/);
    expect(server.output()).toMatch(/uncaught exception in the server .*already stopping/);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n: 1 });
  });
}, 120_000);

it('a fault in the server outside a stop still stops it with exit 1 and a final snapshot (a real server)', async () => {
  await withGameProcess({ 'logic/mistakes.ts': MISTAKES, 'state/rows.ts': ROWS }, async (c, server, project) => {
    expect(await c.call('mistakes.bump')).toBe(1);
    expect(await c.call('mistakes.spoofLater', 0)).toBe('thrown');
    await waitFor(() => server.proc.exitCode !== null, 20_000, 'the server to stop');
    expect(server.proc.exitCode).toBe(1);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n: 1 });
  });
}, 120_000);
