import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { demoProject } from '../helpers/demo.ts';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import type { TempProject } from '../helpers/project.ts';

// The CLI refuses what it does not understand, before it connects, and says
// what was meant; it never runs a command with an argument quietly dropped.

let project: TempProject;
let server: ServerProcess;
let player: RebindClient;
let token: string;
const env = { REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '' };
const cli = (...args: string[]) => runCli([...args, '--server', server.adminUrl, '--data', project.path('data')], env);

beforeAll(async () => {
  project = demoProject();
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], env);
  token = readFileSync(project.path('data/admin.token'), 'utf8').trim();
  player = new RebindClient(server.gameUrl, { reconnect: false });
  await player.connect();
  await player.join({ name: 'ann' });
});
afterAll(async () => {
  player?.close();
  expect(await server?.stop()).toBe(0);
  project?.cleanup();
});

describe('a strict CLI', () => {
  it('refuses extra arguments and options that belong to another command, with exit 2', async () => {
    const extra = await cli('state', 'players', 'p-ann', 'score');
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('unexpected: "score"');
    expect(extra.stderr).toContain('rebind state players p-ann.score');
    expect(extra.stdout).toBe('');
    const dotted = await cli('state', 'players', 'p-ann.score');
    expect(dotted.code).toBe(0);
    expect(dotted.stdout.trim()).toBe('0');
    const foreign = await cli('status', '--as', 'p-ann');
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain('rebind status takes no --as');
    const unknown = await cli('status', '--verbose');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown option --verbose (rebind help lists');
    expect((await cli('rollback', 'arena', 'chat')).code).toBe(2);
  });

  it('calls a usage error a usage error: a --server that is not a URL, and the game port', async () => {
    const notUrl = await runCli(['status', '--server', 'notaurl', '--token', 'x'], env);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--server must be a URL like ws://127.0.0.1:8081, got "notaurl"');
    expect(notUrl.stderr).not.toMatch(/\n\s+at /);
    const gamePort = await runCli(['status', '--server', server.gameUrl, '--token', token], env);
    expect(gamePort.code).toBe(2);
    expect(gamePort.stderr).toContain('is a rebind game port, not the admin port');
  });

  it('refuses to call a client handler without a player, and nothing runs', async () => {
    const chat = async () => JSON.parse((await cli('state', 'world', 'chat', '--json')).stdout) as unknown[];
    const before = await chat();
    const noPlayer = await cli('call', 'chat.say', '{"text":"/roll"}');
    expect(noPlayer.code).toBe(1);
    expect(noPlayer.stderr).toContain('NEEDS_PLAYER: chat.say is a client handler and reads ctx.player');
    expect(noPlayer.stderr).toContain('--as');
    expect(await chat()).toEqual(before);
    const asAnn = await cli('call', 'arena.move', '{"dx":0,"dy":0}', '--as', 'p-ann');
    expect(asAnn.code).toBe(0);
  });

  it('prints a --json error once: the code in its field, not again in the message', async () => {
    const result = await cli('call', 'arena.nope', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({ error: { code: 'UNKNOWN_HANDLER', message: 'no handler named "arena.nope"' } });
  });

  it('generates tokens that cannot be read as an option, and takes --token=<value>', async () => {
    expect(token).toMatch(/^rebind_[\w-]{43}$/);
    const withEquals = await runCli(['status', '--json', `--token=${token}`, '--server', server.adminUrl], env);
    expect(withEquals.code).toBe(0);
    const dashed = await runCli(['status', '--token', '-abc', '--server', server.adminUrl], env);
    expect(dashed.code).toBe(2);
    expect(dashed.stderr).toContain('--token=');
  });

  it("says the option parser's refusals in one readable line each, with what to type", async () => {
    const cases: Array<[string[], string]> = [
      [['status', '--token'], 'rebind: --token needs a value: --token <value>\n'],
      [['history', '-n', '-5'], 'rebind: -n -5: a value that begins with "-" reads as an option; write --n=-5\n'],
      [['status', '--token', '-abc'], 'rebind: --token -abc: a value that begins with "-" reads as an option; write --token=-abc\n'],
      [['status', '--json=1'], 'rebind: --json takes no value: write --json alone\n'],
      [['status', '--token', '--data', 'd'], 'rebind: --token needs a value (--data after it is the next option); a value that begins with "-" is written --token=<value>\n'],
      [['status', '-x'], "rebind: unknown option -x (rebind help lists each command's options)\n"],
    ];
    for (const [args, line] of cases) {
      const result = await runCli(['--server', server.adminUrl, ...args], env);
      expect(result.code, args.join(' ')).toBe(2);
      // One line, no quote left open, no placeholder (XYZ) standing for what was typed.
      expect(result.stderr).toBe(line);
    }
  });

  it('refuses the options that find a server for commands that need none, repeated options and empty values', async () => {
    for (const args of [['types', '--server', 'ws://127.0.0.1:1'], ['types', '--token', 'x'], ['new', path.join(tmpdir(), 'never-made'), '--data', 'd']]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(`rebind ${args[0]} takes no --${args[args.length - 2]!.slice(2)}`);
    }
    const twice = await runCli(['status', '--server', server.adminUrl, '--server', 'ws://127.0.0.1:1', '--token', token], env);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('--server is given more than once');
    const emptyAs = await cli('call', 'arena.move', '{"dx":0,"dy":0}', '--as', '');
    expect(emptyAs.code).toBe(2);
    expect(emptyAs.stderr).toContain('--as needs a value, got an empty one');
    expect((await cli('call', 'arena.move', '{"dx":0,"dy":0}', '--as=')).code).toBe(2);
  });

  it('takes --server http:// as the same address, as the help says', async () => {
    const http = await runCli(['status', '--json', '--server', server.adminUrl.replace(/^ws/, 'http'), '--token', token], env);
    expect(http.code, http.stderr).toBe(0);
    expect((await runCli(['help'], env)).stdout).toContain('http:// and https:// are taken as the');
  });

  it('says an unknown command in one short line, with --json too', async () => {
    const result = await runCli(['frobnicate', '--json'], env);
    expect(result.code).toBe(2);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('USAGE');
    expect(error.message).toBe('unknown command "frobnicate"; the commands are status, patch, rollback, history, state, call, watch, drop, snapshot, types, new (rebind help says what each does)');
  });

  it('rebind new onto a file, or under one, is a clear usage error', async () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'rebind-afile-'));
    try {
      const file = path.join(parent, 'afile');
      writeFileSync(file, 'x');
      for (const target of [file, path.join(file, 'game')]) {
        const result = await runCli(['new', target], env);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain(`${file} is a file, not a folder`);
        expect(result.stderr).not.toMatch(/ENOTDIR|\n\s+at /);
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('outside a project, says where it is and what it needs', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'rebind-nowhere-'));
    try {
      const result = await runCli(['status'], env, empty);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${empty} is not a rebind project`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
