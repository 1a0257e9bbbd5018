import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../server-flags.ts';

// A real rebind server process (server/main.ts, as `npm start` runs it, Node's flags included) on
// ports the system chooses, read back from its log.

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  gameUrl: string;
  adminUrl: string;
  output(): string;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, and wait. */
  kill(): Promise<void>;
}

/** `ready`: a log line that must also have appeared (e.g. a fleet node's registration) before it counts as started. */
export async function startServerProcess(args: string[], env: Record<string, string> = {}, ready?: RegExp): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', MAIN, '--port', '0', '--host', '127.0.0.1', '--admin-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const urls = await new Promise<{ game: string; admin: string }>((resolve, reject) => {
    const check = () => {
      const game = /game server listening on (ws:\/\/[\d.]+:\d+)/.exec(out)?.[1];
      const admin = /admin listening on (ws:\/\/[\d.]+:\d+)/.exec(out)?.[1];
      if (game && admin && (!ready || ready.test(out))) resolve({ game, admin });
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)));
    setTimeout(() => reject(new Error(`server did not start in 20 s:\n${out}`)), 20_000).unref();
  });
  return {
    proc,
    gameUrl: urls.game,
    adminUrl: urls.admin,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}
