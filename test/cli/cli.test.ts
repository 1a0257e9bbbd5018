import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { demoProject } from '../helpers/demo.ts';
import { runCli, startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { waitFor, type TempProject } from '../helpers/project.ts';

let project: TempProject;
let server: ServerProcess;
let player: RebindClient;
let cli: (...args: string[]) => ReturnType<typeof runCli>;
const env = { REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '' };

beforeAll(async () => {
  project = demoProject();
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], env);
  cli = (...args) => runCli([...args, '--server', server.adminUrl, '--data', project.path('data')], env);
  player = new RebindClient(server.gameUrl, { reconnect: false });
  await player.connect();
  await player.join({ name: 'ops' });
});
afterAll(async () => {
  player?.close();
  expect(await server?.stop()).toBe(0);
  project?.cleanup();
});

const rules = () => project.path('logic/lib/rules.ts');
const setSpeed = (from: number, to: number) => project.write('logic/lib/rules.ts', readFileSync(rules(), 'utf8').replace(`SPEED = ${from};`, `SPEED = ${to};`));

describe('the rebind CLI against a running server', () => {
  it('shows status, for people and as JSON', async () => {
    const human = await cli('status');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/arena\s+v1\s+[0-9a-f]{8}\s+logic\/arena\.ts/);
    expect(human.stdout).toContain('arena.move (client)');
    expect(human.stdout).toContain('1 player(s) connected');
    const json = JSON.parse((await cli('status', '--json')).stdout);
    expect(json.modules.map((m: { name: string }) => m.name)).toEqual(['arena', 'chat', 'items', 'session']);
    expect(json.players.connected).toBe(1);
    expect(json.tick.hz).toBe(20);
    expect(json.uptimeMs).toBeGreaterThan(0);
  });

  it('patches, and a connected player gets the new code', async () => {
    setSpeed(200, 450);
    const result = await cli('patch');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/patch #\d+ applied in [\d.]+ ms/);
    expect(result.stdout).toMatch(/arena\s+v1 -> v2/);
    expect(await player.call('arena.info')).toMatchObject({ speed: 450 });
    const again = JSON.parse((await cli('patch', 'arena', '--json')).stdout);
    expect(again).toMatchObject({ ok: true, noop: true });
  });

  it('rejects a broken patch with exit 1 and a code frame, and the old code keeps answering', async () => {
    const good = readFileSync(rules(), 'utf8');
    project.write('logic/lib/rules.ts', good.replace('export const SPEED = 450;', 'export const SPEED = 450 +;'));
    const result = await cli('patch');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('patch rejected (PATCH_COMPILE_ERROR)');
    expect(result.stdout).toMatch(/logic\/lib\/rules\.ts:5:\d+/);
    expect(result.stdout).toContain('> 5 | export const SPEED = 450 +;');
    const json = JSON.parse((await cli('patch', '--json')).stdout);
    expect(json).toMatchObject({ ok: false, error: { code: 'PATCH_COMPILE_ERROR', location: { file: 'logic/lib/rules.ts', line: 5 } } });
    expect(await player.call('arena.info')).toMatchObject({ speed: 450 });
    project.write('logic/lib/rules.ts', good);
  });

  it('rolls back, and connected players get the previous behaviour', async () => {
    const result = await cli('rollback', 'arena');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/rollback #\d+ applied/);
    expect(await player.call('arena.info')).toMatchObject({ speed: 200 });
    const history = await cli('history', '-n', '3');
    expect(history.stdout).toMatch(/rollback .*ok/);
    expect(history.stdout).toContain('FAIL');
    const records = JSON.parse((await cli('history', '--json')).stdout) as Array<{ kind: string; by?: string }>;
    expect(records.at(-1)).toMatchObject({ kind: 'rollback', by: expect.stringContaining('cli@127.0.0.1') });
    setSpeed(450, 200);
  });

  it('reads live state and calls internal handlers', async () => {
    const world = await cli('state', 'world', 'width');
    expect(world.stdout.trim()).toBe('800');
    const me = JSON.parse((await cli('state', 'players', 'p-ops', '--json')).stdout);
    expect(me).toMatchObject({ name: 'ops', online: true });
    const missing = await cli('state', 'players', 'p-nobody.x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('UNKNOWN_PATH');
    const placed = await cli('call', 'arena.place', '{"player":"p-ops","x":5,"y":6}');
    expect(placed.code).toBe(0);
    expect(JSON.parse((await cli('state', 'players', 'p-ops', '--json')).stdout)).toMatchObject({ x: 5, y: 6 });
    const moved = JSON.parse((await cli('call', 'arena.move', '{"dx":0,"dy":0}', '--as', 'p-ops', '--json')).stdout);
    expect(moved).toEqual({ x: 5, y: 6 });
    const info = JSON.parse((await cli('call', 'arena.info', '--json')).stdout);
    expect(info).toEqual({ speed: 200, itemScore: { gem: 1, star: 5 }, viewRadius: 150 });
    const unknown = await cli('call', 'arena.nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('UNKNOWN_HANDLER');
    const badJson = await cli('call', 'arena.place', '{oops');
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('not valid JSON');
  });

  it('takes a snapshot on request', async () => {
    const human = await cli('snapshot');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/wrote snapshot-\d+\.bin/);
    expect(JSON.parse((await cli('snapshot', '--json')).stdout)).toMatchObject({ file: expect.stringMatching(/^snapshot-/), bytes: expect.any(Number) });
  });

  it('says what to do about a wrong token, a server that is not there, and bad usage', async () => {
    const wrong = await runCli(['status', '--server', server.adminUrl, '--token', 'not-the-token'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('refused the admin token (read from --token)');
    const wrongJson = await runCli(['status', '--json', '--server', server.adminUrl, '--token', 'nope'], env);
    expect(JSON.parse(wrongJson.stdout)).toEqual({ error: { code: 'BAD_TOKEN', message: expect.any(String) } });
    const down = await runCli(['status', '--server', 'ws://127.0.0.1:9', '--token', 'x'], env);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('cannot reach the rebind admin at ws://127.0.0.1:9');
    expect((await cli('frobnicate')).code).toBe(2);
    // Names every object inherits are unknown commands too.
    for (const name of ['constructor', 'toString']) {
      const inherited = await cli(name);
      expect(inherited.code).toBe(2);
      expect(inherited.stderr).toContain(`unknown command "${name}"`);
    }
    const help = await cli('patch', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: rebind patch [module...]');
    const noToken = await runCli(['status', '--server', server.adminUrl, '--data', project.path('nowhere')], env);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('nowhere/admin.token does not exist');
  });

  it('writes every admin action to the audit log with its origin', () => {
    const lines = readFileSync(project.path('data/audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // What the client claims (origin) and what the server saw (address), apart.
    expect(lines.some((l) => l.action === 'patch' && l.ok && l.origin === 'cli' && l.address === '127.0.0.1')).toBe(true);
    expect(lines.some((l) => l.action === 'patch' && !l.ok)).toBe(true);
    expect(lines.some((l) => l.action === 'rollback')).toBe(true);
    expect(lines.some((l) => l.action === 'auth' && !l.ok)).toBe(true);
    expect(lines.some((l) => l.action === 'call' && l.args.handler === 'arena.place')).toBe(true);
  });

  it('watches the logic folder and patches on save', async () => {
    const watcher = spawn(process.execPath, [fileURLToPath(new URL('../../tools/bin-rebind.mjs', import.meta.url)), 'watch', '--root', project.root, '--server', server.adminUrl, '--data', project.path('data')], {
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    watcher.stdout.on('data', (d) => (out += d));
    watcher.stderr.on('data', (d) => (out += d));
    try {
      await waitFor(() => out.includes('watching'), 10_000, 'the watcher to start');
      setSpeed(200, 333);
      await waitFor(async () => ((await player.call('arena.info')) as { speed: number }).speed === 333, 10_000, 'the saved speed to be live');
      await waitFor(() => /arena\s+v\d+ -> v\d+/.test(out), 5000, 'the printed patch');
    } finally {
      // Waited for: a watcher still running writes rebind-env.d.ts into the project that afterAll removes (ENOTEMPTY in CI).
      const exited = watcher.exitCode !== null ? Promise.resolve() : new Promise((resolve) => watcher.once('exit', resolve));
      watcher.kill('SIGINT');
      await exited;
      setSpeed(333, 200);
    }
  });
});
