import { createHash } from 'node:crypto';
import { statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import path from 'node:path';
import { rebindError } from '../errors.ts';

// One server per data folder, decided by the kernel. The lock is a listening
// Unix socket: on Linux in the abstract namespace, named after the folder's
// device and inode (the same folder under any path, symlink or bind mount
// gives the same name). No file stands for it, so nothing stale can block a
// start or be deleted to let a second server in; the kernel closes the
// socket when the process exits, before it becomes a zombie, so a restart
// right after kill -9 gets the lock at once. Whoever holds it answers a
// connection with its pid, so a refusal can say who has the folder.
//
// Limits: abstract sockets belong to a network namespace, so two containers
// with separate networks sharing one volume are not kept apart. Elsewhere
// than Linux a socket file in the data folder is used, with a connect test to
// tell a live holder from one left behind by a crash.

/** Which folder a path names now (device and inode), or 'gone': what says a data folder was moved or replaced. */
export function folderIdentity(dir: string): string {
  try {
    const { dev, ino } = statSync(dir);
    return `${dev}:${ino}`;
  } catch {
    return 'gone';
  }
}

export class DataLock {
  private constructor(
    private readonly server: Server,
    private readonly socketFile: string | undefined,
    private readonly dataDir: string,
    private readonly identity: string,
  ) {}

  /**
   * Throws unless the path still names the folder that was locked. A folder
   * moved away and replaced while this server runs belongs to whoever locks
   * the new one: files are opened by path, so this is checked first.
   */
  check(): void {
    if (folderIdentity(this.dataDir) !== this.identity) throw rebindError('DATA_LOCKED', `the data folder ${this.dataDir} was moved, removed or replaced while this server ran; it writes nothing there any more (restart it to use the folder now at that path)`);
  }

  static async acquire(dataDir: string): Promise<DataLock> {
    const { dev, ino } = statSync(dataDir);
    const abstract = process.platform === 'linux';
    const address = abstract ? `\0rebind-data-${createHash('sha256').update(`${dev}:${ino}`).digest('hex').slice(0, 32)}` : path.join(dataDir, '.lock.sock');
    const started = new Date().toISOString();
    const server = createServer((socket) => socket.end(JSON.stringify({ pid: process.pid, since: started })));
    try {
      await listen(server, address);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const holder = await ask(address);
      if (holder || abstract) throw rebindError('DATA_LOCKED', `the data folder ${dataDir} is in use by another rebind server${holder ? ` (process ${holder.pid}, running since ${holder.since})` : ''}; stop it, or give this one another --data`);
      // A socket file nobody answers on was left by a crash (not Linux only).
      unlinkSync(address);
      await listen(server, address);
    }
    server.unref();
    return new DataLock(server, abstract ? undefined : address, dataDir, `${dev}:${ino}`);
  }

  /** Resolves once the socket is closed: a new lock in this process can be taken at once after. */
  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.socketFile) {
      try {
        unlinkSync(this.socketFile);
      } catch {
        // already gone
      }
    }
  }
}

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: address, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** What the holder says about itself, or undefined if nobody answers within a second. */
function ask(address: string): Promise<{ pid: number; since: string } | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ path: address });
    const done = (value: { pid: number; since: string } | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('data', (d) => (text += d));
    socket.on('end', () => {
      try {
        done(JSON.parse(text) as { pid: number; since: string });
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
  });
}
