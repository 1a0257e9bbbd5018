import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GameServer } from '../../server/server.ts';
import { median, ms, type Row } from './table.ts';

// How long a `rebind` command takes, from the shell's point of view: a whole
// process, start-up included, for `rebind status --json` against a running
// demo server. Beside it, `node -e 0`: the floor no Node program goes under,
// measured in the same run and interleaved, so a busy machine slows both.

const BIN = fileURLToPath(new URL('../bin-rebind.mjs', import.meta.url));

const run = promisify(execFile);

/** Asynchronous: the server answering the command runs in this process. */
async function timed(args: string[]): Promise<number> {
  const start = performance.now();
  await run(process.execPath, args, { env: { ...process.env, REBIND_ADMIN_TOKEN: '', REBIND_SERVER: '' } });
  return performance.now() - start;
}

export async function benchCli(runs: number): Promise<Row[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-cli-'));
  for (const dir of ['state', 'logic']) cpSync(fileURLToPath(new URL(`../../${dir}`, import.meta.url)), path.join(root, dir), { recursive: true });
  const server = await GameServer.start({ root, dataDir: path.join(root, 'data'), port: 0, host: '127.0.0.1', adminPort: 0 });
  try {
    const status = ['status', '--json', '--server', `ws://127.0.0.1:${server.admin!.port}`, '--data', path.join(root, 'data')];
    await timed([BIN, ...status]); // builds the CLI bundle if it is stale, outside the figure
    // rebind types reads the demo's modules from disk (no server): esbuild's service starts on each run.
    const types = ['types', '--root', root];
    const cli: number[] = [];
    const typing: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      cli.push(await timed([BIN, ...status]));
      typing.push(await timed([BIN, ...types]));
      bare.push(await timed(['-e', '0']));
    }
    const floor = median(bare);
    const row = (what: string, figure: number): Row => ({
      section: 'cli',
      what: `${what}, whole process (median of ${runs})`,
      rebind: `${ms(figure)} (node + ${ms(figure - floor)})`,
      baseline: `node -e 0: ${ms(floor)}`,
      goal: '< 300 ms',
      met: figure < 300,
    });
    return [row('rebind status --json', median(cli)), row(`rebind types (the demo's modules)`, median(typing))];
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
