import { expect, it } from 'vitest';
import { lastSnapshotOf, withGameProcess } from './helpers/game-process.ts';
import { waitFor } from './helpers/project.ts';

// The log never throws, whatever logic throws (attack 16a): inside the uncaughtException handler a
// throw of the logger's ended the server with exit 7 and no final snapshot. Every value here was
// one that made it throw: an error carrying a frozen object with a `message` (a store row), a proxy
// whose traps throw, a field whose `message` getter throws, a `cause` that is a function, a hostile
// member of `errors`, data nested 20,000 deep.

const HOSTILE = `import { client } from '../server/api';
import fs from 'node:fs';
import { counter } from '../state/counter';
import { notice } from '../state/notice';
const trap = () => { throw new Error('trap'); };
const proxy = () => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap, defineProperty: trap, set: trap });
function deep(n: number): object { let o: any = { message: 'leaf' }; for (let i = 0; i < n; i++) o = { message: 'm', inner: o }; return o; }
const make: Record<string, () => unknown> = {
  frozen: () => Object.assign(new Error('could not post'), { post: Object.freeze({ message: 'hello from ann', by: 'p-ann' }) }),
  row: () => Object.assign(new Error('bad row'), { row: notice.get() }),
  fieldProxy: () => Object.assign(new Error('field proxy'), { detail: proxy() }),
  fieldMessageGetter: () => Object.assign(new Error('field getter'), { detail: { get message() { throw new Error('getter'); } } }),
  causeFn: () => Object.assign(new Error('cause fn'), { cause: () => { throw new Error('cause called'); } }),
  errorsMember: () => Object.assign(new Error('errors member'), { errors: [{ get message() { throw new Error('member'); } }] }),
  deep: () => Object.assign(new Error('deep nesting'), { detail: deep(20000) }),
  proxy,
};
export const bump = client(() => counter.update((d) => { d.n++; }).n);
export const fuse = client((ctx: unknown, p: { what: string; how: string }) => {
  if (p.how === 'callback') fs.stat('/', () => { throw make[p.what]!(); });
  else if (p.how === 'rejection') void Promise.reject(make[p.what]!());
  else (ctx as { log: { error(m: string, e: unknown): void } }).log.error('logged by logic', make[p.what]!());
  return 'lit';
});
export const unique = client((ctx: unknown, p: { n: number; kb: number }) => {
  for (let i = 0; i < p.n; i++) fs.stat('/', () => { throw 'failed #' + i + ': ' + 'x'.repeat(p.kb * 1024); });
  return 'queued';
});
export const rejections = client((ctx: unknown, p: { n: number }) => {
  for (let i = 0; i < p.n; i++) void Promise.reject(new Error('rejected #' + i));
  return 'queued';
});
export const huge = client(() => { fs.stat('/', () => { throw new Error('m'.repeat(20 * 1024 * 1024)); }); return 'queued'; });
`;

// A store's value is deeply frozen, and this one has a `message`, as many rows do.
const NOTICE = `import { defineStore } from '../server/api';
export const notice = defineStore('notice', { message: 'doors open at 8', by: 'p-ann' });
`;

const jsonLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

it('an error of logic\'s, however hostile its fields, is logged as readable plain data and the server goes on; SIGTERM then exits 0 with a final snapshot (a real server)', async () => {
  await withGameProcess({ 'logic/hostile.ts': HOSTILE, 'state/notice.ts': NOTICE }, async (c, server, project) => {
    let n = 0;
    for (const what of ['frozen', 'row', 'fieldProxy', 'fieldMessageGetter', 'causeFn', 'errorsMember', 'deep', 'proxy']) {
      for (const how of ['callback', 'rejection', 'ctx.log']) {
        expect(await c.call('hostile.fuse', { what, how }), `${what} ${how}`).toBe('lit');
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await c.call('hostile.bump'), `${what} ${how}`).toBe(++n);
      }
    }
    const out = server.output();
    expect(out).not.toMatch(/stopping/);
    // What operators rely on is there as text: type, message, stack, and the fields logic put on the error.
    const lines = jsonLines(out);
    const frozen = lines.find((line) => (line.err as { message?: string } | undefined)?.message === 'could not post');
    expect(frozen?.err).toMatchObject({ type: 'Error', stack: expect.stringMatching(/^Error: could not post\n\s+at /), post: { message: 'hello from ann', by: 'p-ann' } });
    const proxied = lines.find((line) => (line.err as { message?: string } | undefined)?.message === 'field proxy');
    expect(proxied?.err).toMatchObject({ detail: '[a proxy]' });
    const getter = lines.find((line) => (line.err as { message?: string } | undefined)?.message === 'field getter');
    expect(getter?.err).toMatchObject({ detail: { message: '[getter]' } });
    const row = lines.find((line) => (line.err as { message?: string } | undefined)?.message === 'bad row');
    expect(row?.err).toMatchObject({ row: { message: 'doors open at 8', by: 'p-ann' } });
    const deep = lines.find((line) => (line.err as { message?: string } | undefined)?.message === 'deep nesting');
    expect(JSON.stringify(deep?.err).length).toBeLessThan(16 * 1024);
    expect(out).not.toMatch(/cause called|"member"/);
    c.close();
    expect(await server.stop()).toBe(0);
    expect(lastSnapshotOf(project, 'counter')).toMatchObject({ n });
  });
}, 120_000);

it("uncaught throws and unhandled rejections from one place are throttled by place, not by their message, and a log line carries a bounded part of a long message, saying it was cut (a real server)", async () => {
  await withGameProcess({ 'logic/hostile.ts': HOSTILE, 'state/notice.ts': NOTICE }, async (c, server) => {
    // 200 different messages of 64 KB, thrown from one place: one line (the next would come 5 s later).
    expect(await c.call('hostile.unique', { n: 200, kb: 64 })).toBe('queued');
    expect(await c.call('hostile.huge')).toBe('queued');
    // Rejections nothing handles, from one place, likewise.
    expect(await c.call('hostile.rejections', { n: 200 })).toBe('queued');
    await waitFor(() => /m{100}/.test(server.output()), 20_000, 'the 20 MB message to be logged');
    await waitFor(async () => (await c.call('hostile.bump')) === 1, 10_000, 'the server to answer');
    const out = server.output();
    expect(out.split('\n').filter((line) => line.includes('failed #')).length).toBe(1);
    expect(out.split('\n').filter((line) => line.includes('rejected #')).length).toBe(1);
    const hugeLine = out.split('\n').find((line) => /m{100}/.test(line))!;
    expect(hugeLine.length).toBeLessThan(64 * 1024);
    expect(hugeLine).toMatch(/cut: 20971\d{3} characters in all/);
    expect(out.length).toBeLessThan(1024 * 1024);
    c.close();
    expect(await server.stop()).toBe(0);
  });
}, 120_000);
