// The `rebind` CLI: patch, inspect and roll back a running server through its
// admin channel. Exit codes: 0 done, 3 a patch applied but unverified, 1 refused (a rejected patch, a failed
// call), 2 usage or connection error. Shipped bundled as plain JavaScript
// (tools/cli/build-cli.mjs) so that a command starts in a blink.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AdminTarget } from './cli/admin-client.ts';
import { CliError } from './cli/cli-error.ts';
import { parseVerifyWindow } from '../server/patch/verify-window.ts';
import { COMMANDS, COMMON_OPTIONS, LOCAL_OPTIONS, help } from './cli/commands.ts';
import { findProjectRoot } from './cli/project-root.ts';
import { readableArgError } from './cli/arg-errors.ts';
import { formatHistory, formatPatch, formatStatus, paint, patchExitCode, statusExitCode, type PatchRecord } from './cli/format.ts';
import { PATCH_PUSH } from '../server/admin/protocol.ts';

const usage = (message: string) => new CliError(message, 2, 'USAGE');

/** ws:// or wss://, with a host; http(s) is taken as the same address. */
function adminUrl(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usage(`${from} must be a URL like ws://127.0.0.1:8081, got "${raw}"`);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || !url.hostname) throw usage(`${from} must be a ws:// or wss:// URL like ws://127.0.0.1:8081, got "${raw}"`);
  return url.href;
}

/**
 * This bin as a command that works from any folder. Outside a project
 * `npx rebind` asks the registry for a package named rebind (npm's rule for a
 * name no local package provides), which is not this engine.
 */
function selfCommand(): string {
  let bin: string;
  try {
    bin = realpathSync(process.argv[1] ?? '');
  } catch {
    return 'rebind';
  }
  return `node ${bin.includes(' ') ? JSON.stringify(bin) : bin}`;
}

function target(values: Record<string, unknown>): AdminTarget {
  const url =
    typeof values.server === 'string'
      ? adminUrl(values.server, '--server')
      : process.env.REBIND_SERVER
        ? adminUrl(process.env.REBIND_SERVER, 'REBIND_SERVER')
        : `ws://127.0.0.1:${process.env.REBIND_ADMIN_PORT ?? 8081}`;
  if (typeof values.token === 'string') return { url, token: values.token, tokenSource: '--token' };
  if (process.env.REBIND_ADMIN_TOKEN) return { url, token: process.env.REBIND_ADMIN_TOKEN, tokenSource: 'REBIND_ADMIN_TOKEN' };
  const project = findProjectRoot();
  const dataDir = path.resolve((values.data as string | undefined) ?? (process.env.REBIND_DATA || path.join(project ?? '.', 'data')));
  const file = path.join(dataDir, 'admin.token');
  if (!existsSync(file)) {
    const notAProject = project === undefined && !existsSync('state') && values.data === undefined && !process.env.REBIND_DATA;
    const why = notAProject
      ? `${process.cwd()} is not a rebind project (no logic/ here or in a folder above): run rebind in the game's folder, where the server keeps data/admin.token, or pass --token (or set REBIND_ADMIN_TOKEN) and --server. To start a game of your own: ${selfCommand()} new <dir>.`
      : `no admin token: ${file} does not exist. Pass --token, set REBIND_ADMIN_TOKEN, or point --data at the server's data folder.`;
    throw new CliError(why, 2, 'NO_TOKEN');
  }
  return { url, token: readFileSync(file, 'utf8').trim(), tokenSource: file };
}

function out(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
}

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        data: { type: 'string' },
        root: { type: 'string' },
        as: { type: 'string' },
        json: { type: 'boolean', default: false },
        n: { type: 'string', short: 'n' },
        verify: { type: 'string' },
        canary: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // Node's message, said for a person: the option as typed and what to type instead (--token=-abc).
    throw usage(readableArgError(err, argv));
  }
  // An option given twice is refused, not decided by the last one; an empty value is not a value.
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name)) throw usage(`${token.rawName} is given more than once: give it once`);
    seen.add(token.name);
    if (token.value !== undefined && token.value.trim() === '') throw usage(`${token.rawName} needs a value, got an empty one`);
  }
  return parsed;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    if (rest.length > 1) throw usage(`help takes one command name, got ${rest.length}`);
    process.stdout.write(help(rest[0]));
    return command || values.help ? 0 : 2;
  }
  // Own keys only: "constructor" is not a command.
  if (!Object.hasOwn(COMMANDS, command)) throw usage(`unknown command "${command}"; the commands are ${Object.keys(COMMANDS).join(', ')} (rebind help says what each does)`);
  const spec = COMMANDS[command]!;
  if (values.help) {
    process.stdout.write(help(command));
    return 0;
  }
  const given = Object.keys(values).filter((k) => !(k === 'json' && values.json === false));
  const common = spec.local ? LOCAL_OPTIONS : COMMON_OPTIONS;
  const foreign = given.filter((k) => !common.includes(k) && !spec.options.includes(k));
  if (foreign.length) throw usage(`rebind ${command} takes no ${foreign.map((k) => (k.length === 1 ? `-${k}` : `--${k}`)).join(', ')}\nusage: ${spec.usage}`);
  if (rest.length < spec.min) throw usage(`usage: ${spec.usage}`);
  if (rest.length > spec.max) {
    const extra = rest.slice(spec.max).map((a) => JSON.stringify(a)).join(' ');
    throw usage(`rebind ${command} takes at most ${spec.max} argument(s); unexpected: ${extra}${spec.extraHint ? `\n${spec.extraHint}` : ''}\nusage: ${spec.usage}`);
  }
  let payload: unknown = null;
  if (command === 'call' && rest[1] !== undefined) {
    try {
      payload = JSON.parse(rest[1]);
    } catch (err) {
      throw usage(`the payload is not valid JSON (${(err as Error).message}): ${rest[1]}`);
    }
  }
  let n = 20;
  if (command === 'history' && values.n !== undefined) {
    n = Number(values.n);
    if (!Number.isInteger(n) || n < 1) throw usage(`-n must be a whole number >= 1, got "${values.n}"`);
  }
  const verifyWindow = values.verify === undefined ? undefined : parseVerifyWindow(values.verify as string);
  if (verifyWindow && 'error' in verifyWindow) throw usage(`--verify ${verifyWindow.error}`);
  const verifyMs = verifyWindow?.ms;
  const canaryMatch = values.canary === undefined ? undefined : /^(\d+(?:\.\d+)?)%$/.exec(values.canary as string);
  const canary = canaryMatch ? Number(canaryMatch[1]) / 100 : undefined;
  if (values.canary !== undefined && !(canary !== undefined && canary > 0 && canary < 1)) throw usage(`--canary must be a share of players such as 10%, got "${values.canary}"`);
  if (canary !== undefined && !verifyMs) throw usage('--canary needs --verify DURATION: the window after which the canary is promoted or rolled back');
  // The game's folder: --root, else the nearest folder up with logic/ (a command run in my-game/logic means my-game).
  const watchRoot = path.resolve((values.root as string | undefined) ?? findProjectRoot() ?? '.');
  const json = values.json === true;
  if (command === 'types') {
    const { writeProjectTypes } = await import('./cli/types.ts');
    const written = await writeProjectTypes(watchRoot);
    if (!json) for (const line of written.refused) process.stderr.write(`rebind: warning: ${line}\n`);
    out(json, written, () => `wrote ${path.relative(process.cwd(), written.file) || written.file}: ${written.handlers} handler(s)`);
    return 0;
  }
  if (command === 'new') {
    const { createProject, describeProject } = await import('./scaffold/new.ts');
    // The engine is the folder above this file: tools/ in source, .build/ bundled.
    const engine = fileURLToPath(new URL('..', import.meta.url));
    const created = createProject(rest[0]!, path.resolve(engine));
    out(json, created, () => describeProject(created, path.resolve(engine)));
    return 0;
  }
  // Loaded here: the admin client brings ws, which types and new never need.
  const { AdminClient } = await import('./cli/admin-client.ts');
  const client = await AdminClient.connect(target(values));
  try {
    switch (command) {
      case 'status': {
        const status = await client.request('status');
        out(json, status, () => formatStatus(status));
        return statusExitCode(status);
      }
      case 'patch': {
        // Said once the patch is applied (its record is pushed before the answer), not before a refusal arrives.
        if (verifyMs && !json) {
          client.onPush((event, pushed) => {
            const r = pushed as PatchRecord;
            if (event !== PATCH_PUSH || r.kind !== 'patch' || !r.ok || r.noop || r.verify?.windowMs !== verifyMs) return;
            process.stderr.write(`verifying the new code for ${verifyMs / 1000} s...\n`);
            if (canary !== undefined) process.stderr.write(`canary: the new code serves ${canary * 100}% of players until then\n`);
          });
        }
        const record = await client.request('patch', { ...(rest.length ? { modules: rest } : {}), ...(verifyMs ? { verify: verifyMs } : {}), ...(canary !== undefined ? { canary } : {}) });
        out(json, record, () => formatPatch(record));
        // A file on disk the patch did not take is said here, not only in the server's log ("nothing to do" alone misled).
        if (!json) for (const left of record.leftOut ?? []) process.stderr.write(`rebind: warning: logic/${left.module}.ts was left out (${left.code}): ${left.message}\n`);
        // A patch rolled back by its verification is refused, as far as a script is concerned; an unverified one is 3.
        return patchExitCode(record);
      }
      case 'rollback': {
        const record = await client.request('rollback', rest[0] ? { module: rest[0] } : {});
        out(json, record, () => formatPatch(record));
        return record.ok ? 0 : 1;
      }
      case 'history': {
        const records = await client.request('history', { n });
        out(json, records, () => formatHistory(records));
        return 0;
      }
      case 'state': {
        const value = await client.request('state', { store: rest[0], path: rest[1] ?? '' });
        out(json, value, () => JSON.stringify(value, null, 2));
        return 0;
      }
      case 'call': {
        const { result } = await client.request('call', { handler: rest[0], payload, ...(values.as ? { player: values.as } : {}) });
        out(json, result, () => JSON.stringify(result, null, 2));
        return 0;
      }
      case 'drop': {
        const dropped = await client.request('drop', { player: rest[0] });
        out(json, dropped, () => `dropped ${dropped.dropped}: the connection is closed; the player may resume`);
        return 0;
      }
      case 'snapshot': {
        const snap = await client.request('snapshot');
        out(json, snap, () => `wrote ${snap.file} (transaction ${snap.seq}, ${snap.bytes} bytes) in ${snap.ms} ms`);
        return 0;
      }
      case 'watch': {
        // Loaded only here: the file watcher is the heaviest thing the CLI uses.
        const { watchAndPatch } = await import('./cli/watch.ts');
        // --verify: every save's patch is verified as rebind patch --verify would; the exit code stays 0 (a loop, not one patch).
        await watchAndPatch(client, watchRoot, (record) => out(json, record, () => formatPatch(record)), verifyMs);
        return 0;
      }
    }
    return 2;
  } finally {
    client.close();
  }
}

// A reader that stops early (rebind history -n 2000 | head -1) closes the pipe: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof CliError)) throw err;
  // With --json the error is the answer, as JSON on stdout only: 2>&1 stays one JSON document.
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
  else {
    // For people the code leads, when it is the server's: "UNKNOWN_HANDLER: no handler ...".
    const text = err.fromServer ? `${err.code}: ${err.message}` : err.message;
    process.stderr.write(`${paint('red', 'rebind:')} ${text}\n`);
  }
  process.exitCode = err.exitCode;
}
