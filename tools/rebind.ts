// The `rebind` CLI: patch, inspect and roll back a running server through its
// admin channel. Exit codes: 0 done, 1 refused (a rejected patch, a failed
// call), 2 usage or connection error.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient, CliError, type AdminTarget } from './cli/admin-client.ts';
import { formatHistory, formatPatch, formatStatus, paint, type PatchRecord } from './cli/format.ts';
import { watchAndPatch } from './cli/watch.ts';

const COMMON = `
options for every command:
  --server URL   the admin address (REBIND_SERVER; default ws://127.0.0.1:8081)
  --token T      the admin token (REBIND_ADMIN_TOKEN; default: <data>/admin.token)
  --data DIR     where to look for admin.token (REBIND_DATA; default ./data)
  --json         print JSON for scripts
  -h, --help     help for the command`;

const COMMANDS: Record<string, { usage: string; about: string }> = {
  status: { usage: 'rebind status', about: 'modules with versions and hashes, handler calls and errors, last patch, players, tick, uptime' },
  patch: { usage: 'rebind patch [module...]', about: "rebuild from the server's logic folder and swap (default: every module whose sources changed)" },
  rollback: { usage: 'rebind rollback [module]', about: 're-activate the previous version (default: of every module the last patch changed)' },
  history: { usage: 'rebind history [-n N]', about: 'the last N patches and rollbacks (default 20)' },
  state: { usage: 'rebind state <store> [path]', about: 'a read-only view of live data, e.g. rebind state players p-ann' },
  call: { usage: 'rebind call <handler> [json] [--as PLAYER]', about: 'call any handler, internal ones too, and print its result (--as: with ctx.player set)' },
  watch: { usage: 'rebind watch [--root DIR]', about: 'patch the server on every save under <root>/logic (default: the working directory)' },
  snapshot: { usage: 'rebind snapshot', about: 'write a snapshot of every store now' },
};

function help(command?: string): string {
  if (command && Object.hasOwn(COMMANDS, command)) return `usage: ${COMMANDS[command].usage}\n\n${COMMANDS[command].about}\n${COMMON}\n`;
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return `rebind: live-patch and inspect a running rebind server\n\n${Object.values(COMMANDS)
    .map((c) => `  ${c.usage.padEnd(width)}  ${c.about}`)
    .join('\n')}\n${COMMON}\n`;
}

function target(values: Record<string, unknown>): AdminTarget {
  const url = (values.server as string | undefined) ?? process.env.REBIND_SERVER ?? `ws://127.0.0.1:${process.env.REBIND_ADMIN_PORT ?? 8081}`;
  if (typeof values.token === 'string') return { url, token: values.token, tokenSource: '--token' };
  if (process.env.REBIND_ADMIN_TOKEN) return { url, token: process.env.REBIND_ADMIN_TOKEN, tokenSource: 'REBIND_ADMIN_TOKEN' };
  const file = path.resolve((values.data as string | undefined) ?? process.env.REBIND_DATA ?? 'data', 'admin.token');
  if (!existsSync(file)) {
    throw new CliError(`no admin token: ${file} does not exist. Pass --token, set REBIND_ADMIN_TOKEN, or point --data at the server's data folder.`, 2, 'NO_TOKEN');
  }
  return { url, token: readFileSync(file, 'utf8').trim(), tokenSource: file };
}

function out(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      data: { type: 'string' },
      root: { type: 'string' },
      as: { type: 'string' },
      json: { type: 'boolean', default: false },
      n: { type: 'string', short: 'n' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    process.stdout.write(help(rest[0]));
    return command ? 0 : values.help ? 0 : 2;
  }
  // Own keys only: "constructor" is not a command.
  if (!Object.hasOwn(COMMANDS, command)) throw new CliError(`unknown command "${command}"\n\n${help()}`, 2, 'USAGE');
  if (values.help) {
    process.stdout.write(help(command));
    return 0;
  }
  const json = values.json === true;
  const client = await AdminClient.connect(target(values));
  try {
    switch (command) {
      case 'status': {
        const status = await client.request('status');
        out(json, status, () => formatStatus(status as Parameters<typeof formatStatus>[0]));
        return 0;
      }
      case 'patch':
      case 'rollback': {
        if (command === 'rollback' && rest.length > 1) throw new CliError(`usage: ${COMMANDS.rollback!.usage}`, 2, 'USAGE');
        const record = await client.request<PatchRecord>(command, command === 'patch' ? (rest.length ? { modules: rest } : {}) : rest[0] ? { module: rest[0] } : {});
        out(json, record, () => formatPatch(record));
        return record.ok ? 0 : 1;
      }
      case 'history': {
        const n = values.n === undefined ? 20 : Number(values.n);
        if (!Number.isInteger(n) || n < 1) throw new CliError(`-n must be a whole number >= 1, got "${values.n}"`, 2, 'USAGE');
        const records = await client.request<PatchRecord[]>('history', { n });
        out(json, records, () => formatHistory(records));
        return 0;
      }
      case 'state': {
        if (!rest[0]) throw new CliError(`usage: ${COMMANDS.state!.usage}`, 2, 'USAGE');
        const value = await client.request('state', { store: rest[0], path: rest[1] ?? '' });
        out(json, value, () => JSON.stringify(value, null, 2));
        return 0;
      }
      case 'call': {
        if (!rest[0]) throw new CliError(`usage: ${COMMANDS.call!.usage}`, 2, 'USAGE');
        let payload: unknown = null;
        if (rest[1] !== undefined) {
          try {
            payload = JSON.parse(rest[1]);
          } catch (err) {
            throw new CliError(`the payload is not valid JSON (${(err as Error).message}): ${rest[1]}`, 2, 'USAGE');
          }
        }
        const { result } = await client.request<{ result: unknown }>('call', { handler: rest[0], payload, ...(values.as ? { player: values.as } : {}) });
        out(json, result, () => JSON.stringify(result, null, 2));
        return 0;
      }
      case 'snapshot': {
        const snap = await client.request<{ file: string; seq: number; bytes: number; ms: number }>('snapshot');
        out(json, snap, () => `wrote ${snap.file} (transaction ${snap.seq}, ${snap.bytes} bytes) in ${snap.ms} ms`);
        return 0;
      }
      case 'watch':
        await watchAndPatch(client, path.resolve((values.root as string | undefined) ?? '.'), (record) => out(json, record, () => formatPatch(record)));
        return 0;
    }
    return 2;
  } finally {
    client.close();
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (err) {
  if (err instanceof CliError) {
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
    process.stderr.write(`${paint('red', 'rebind:')} ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`rebind: ${(err as Error).message}\n\n${help()}`);
    process.exitCode = 2;
  } else throw err;
}
