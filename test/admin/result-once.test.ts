import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runCli } from '../helpers/process.ts';
import { servedProject } from '../helpers/served-project.ts';

// `rebind call` against a real server process: a handler's result is read
// once, and the reply and the audit line are made from that one reading; an
// action that changed state and then failed is audited; a result JSON cannot
// carry is HANDLER_ERROR; a thrown value or a result that cannot be read is the
// handler's failure, not a BAD_REQUEST; a reply over the CLI's limit says so.

const TOKEN = 'rebind_result_once_token';

const STATE = `import { defineTable } from '../server/api';
export const players = defineTable<{ name: string; score: number }>('players', { version: 1 });
`;

const ODD = `import { players } from '../state/game';
const trap = () => { throw new Error('trap'); };
const hostile = () => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
// Encodes the first time it is read, throws on every later read.
const once = () => { let n = 0; return { toJSON() { if (n++ > 0) throw new Error('read ' + n); return 'fine'; } }; };
export function writeThenOddResult(_ctx: unknown, p: { id: string }) { players.set(p.id, { name: p.id, score: 99 }); return once(); }
export function writeThenBigint(_ctx: unknown, p: { id: string }) { players.set(p.id, { name: p.id, score: 7 }); return { n: 1n }; }
export function symbolResult() { return Symbol('s'); }
export function functionResult() { return () => 1; }
export function proxyResult() { return hostile(); }
export async function rejectsHostile() { await null; throw hostile(); }
export function internalNullProto() { throw Object.create(null); }
export function nothing() { return undefined; }
export function huge() { return 'y'.repeat(101 * 1024 * 1024); }
`;

const served = servedProject(TOKEN, { 'state/game.ts': STATE, 'logic/odd.ts': ODD });

const cli = (...args: string[]) => runCli([...args, '--server', served.server.adminUrl], served.env);

interface AuditLine {
  action: string;
  ok: boolean;
  args?: { handler?: string; payload?: unknown };
  result?: unknown;
}

function auditOf(handler: string): AuditLine[] {
  const lines = readFileSync(served.project.path('data/audit.log'), 'utf8').trim().split('\n');
  return lines.map((l) => JSON.parse(l) as AuditLine).filter((a) => a.action === 'call' && a.args?.handler === handler);
}

it('a result read once: the reply and the audit line come from the same reading, and the write is kept', async () => {
  await served.start();
  const run = await cli('call', 'odd.writeThenOddResult', '{"id":"p-audit"}');
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toBe('fine');
  expect(auditOf('odd.writeThenOddResult')).toEqual([expect.objectContaining({ ok: true, result: { result: 'fine' } })]);
  const row = await cli('state', 'players', 'p-audit', '--json');
  expect(JSON.parse(row.stdout)).toEqual({ name: 'p-audit', score: 99 });
}, 60_000);

it('a call that wrote, then returned what JSON cannot carry, is HANDLER_ERROR and audited as failed; a symbol or a function is too', async () => {
  const bigint = await cli('call', 'odd.writeThenBigint', '{"id":"p-big"}');
  expect(bigint.code).toBe(1);
  expect(bigint.stderr).toMatch(/HANDLER_ERROR: the reply could not be encoded: .*BigInt/);
  expect(auditOf('odd.writeThenBigint')).toEqual([expect.objectContaining({ ok: false, result: expect.objectContaining({ code: 'HANDLER_ERROR' }) })]);
  // The write committed before the result was encoded: it is kept, and the audit line above says the call ran.
  expect(JSON.parse((await cli('state', 'players', 'p-big', '--json')).stdout)).toEqual({ name: 'p-big', score: 7 });

  for (const [handler, kind] of [
    ['odd.symbolResult', 'symbol'],
    ['odd.functionResult', 'function'],
  ]) {
    const run = await cli('call', handler!);
    expect(run.code, handler).toBe(1);
    expect(run.stdout, handler).toBe('');
    expect(run.stderr, handler).toMatch(new RegExp(`HANDLER_ERROR: ${handler!.replace('.', '\\.')} returned a ${kind}, which the reply cannot carry`));
    expect(auditOf(handler!), handler).toEqual([expect.objectContaining({ ok: false, result: expect.objectContaining({ code: 'HANDLER_ERROR' }) })]);
  }
  // Nothing at all is still null.
  expect(await cli('call', 'odd.nothing')).toMatchObject({ code: 0, stdout: 'null\n' });
}, 60_000);

it('a thrown value or a result that cannot be read is the handler failing (HANDLER_ERROR, logged, audited), not BAD_REQUEST', async () => {
  for (const handler of ['odd.internalNullProto', 'odd.rejectsHostile', 'odd.proxyResult']) {
    const run = await cli('call', handler);
    expect(run.code, handler).toBe(1);
    expect(run.stderr, handler).toMatch(/^rebind: HANDLER_ERROR: /);
    expect(run.stderr, handler).not.toMatch(/BAD_REQUEST|Cannot convert object to primitive value/);
    expect(auditOf(handler), handler).toEqual([expect.objectContaining({ ok: false, result: expect.objectContaining({ code: 'HANDLER_ERROR' }) })]);
  }
  expect((await cli('call', 'odd.internalNullProto')).stderr).toMatch(/HANDLER_ERROR: odd\.internalNullProto failed: \S/);
  // The handler's failure was logged with its name, and counted with a last error.
  expect(served.server.output()).toMatch(/odd\.internalNullProto threw/);
  const status = JSON.parse((await cli('status', '--json')).stdout) as { modules: Array<{ name: string; handlers: Array<{ name: string; errors: number; lastError?: { code: string } }> }> };
  const handler = status.modules.find((m) => m.name === 'odd')!.handlers.find((h) => h.name === 'odd.internalNullProto')!;
  expect(handler).toMatchObject({ errors: 2, lastError: { code: 'HANDLER_ERROR' } });
}, 60_000);

it('a reply over the CLI 100 MiB limit: the CLI says the result was too big, exit 1 (not "the server closed the connection")', async () => {
  const run = await cli('call', 'odd.huge');
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/larger than the 100 MiB the CLI accepts/);
  expect(run.stderr).toMatch(/too big/);
  expect(run.stderr).not.toMatch(/server closed the admin connection/);
  // The server goes on.
  expect(await cli('call', 'odd.nothing')).toMatchObject({ code: 0, stdout: 'null\n' });
}, 120_000);
