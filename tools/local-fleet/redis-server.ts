import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

// A real redis-server for a fleet on this machine (tests and benchmarks):
// Debian's binary on a free port, in a temp folder, with no persistence (a
// restart loses everything, the harshest restart a fleet can meet). Liveness
// is decided by asking it (PING) and by whether its port takes connections,
// never from a pid.

export const REDIS_SERVER = process.env.REBIND_REDIS_SERVER ?? '/usr/bin/redis-server';
export const HAVE_REDIS = existsSync(REDIS_SERVER);

export interface LocalRedis {
  url: string;
  port: number;
  /** Kills it (SIGKILL) and waits until its port refuses connections. */
  stop(): Promise<void>;
  /** stop(), then a fresh, empty redis-server on the same port. */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One round of "PING" on a fresh TCP connection: true when the answer is +PONG. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d;
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis-server: ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedis(): Promise<LocalRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'rebind-redis-'));
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const launch = async () => {
    log = '';
    mkdirSync(dir, { recursive: true });
    const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await until(`answering PING on ${port} (log: ${log})`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${log}`);
      return ping(port);
    }, 10_000);
  };
  const stop = async () => {
    proc?.kill('SIGKILL');
    await exited;
    await until(`port ${port} free`, () => refuses(port), 10_000);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      await launch();
    },
  };
}
