import { FLOAT32_OPTIONS, Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { readDecimals } from '../../client/decimal.ts';
import { GameServer, type ServerOptions } from '../../server/server.ts';
import { TempProject } from './project.ts';

// Real servers on 127.0.0.1, port 0, for tests; and a raw socket that shows
// exactly what crosses the wire.

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });
// As the client reads: sync deltas' 32-bit floats are rounded to their significant digits.
readDecimals();
const unpackr = new Unpackr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, useFloat32: FLOAT32_OPTIONS.DECIMAL_FIT });

export const SESSION_MODULE = `
import { fail, type Ctx } from '../server/api';
import { sessionLog } from '../state/session-log';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string' || p.name.length === 0) fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) { sessionLog.update((d) => { d.push('join ' + ctx.player); }); ctx.join('lobby'); }
export function drop(ctx: Ctx) { sessionLog.update((d) => { d.push('drop ' + ctx.player); }); }
export function resume(ctx: Ctx) { sessionLog.update((d) => { d.push('resume ' + ctx.player); }); }
export function leave(ctx: Ctx) { sessionLog.update((d) => { d.push('leave ' + ctx.player); }); }
`;

export const SESSION_STATE = `
import { defineStore } from '../server/api';
export const sessionLog = defineStore('sessionLog', [] as string[]);
`;

export interface TestServer {
  server: GameServer;
  project: TempProject;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(files: Record<string, string>, options: ServerOptions = {}): Promise<TestServer> {
  const project = new TempProject({ 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE, ...files });
  let server: GameServer;
  try {
    server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', ...options });
  } catch (err) {
    project.cleanup();
    throw err;
  }
  return {
    server,
    project,
    url: server.url,
    async stop() {
      await server.stop();
      project.cleanup();
    },
  };
}

/**
 * A server with its admin channel on 127.0.0.1 (port 0) and `token` as its admin token. The token is read
 * from REBIND_ADMIN_TOKEN at start only, so the variable is set for the start and then put back as it was.
 */
export async function startServerWithAdmin(token: string, files: Record<string, string>, options: ServerOptions = {}): Promise<TestServer> {
  const saved = process.env.REBIND_ADMIN_TOKEN;
  process.env.REBIND_ADMIN_TOKEN = token;
  try {
    return await startServer(files, { adminPort: 0, adminHost: '127.0.0.1', ...options });
  } finally {
    if (saved === undefined) delete process.env.REBIND_ADMIN_TOKEN;
    else process.env.REBIND_ADMIN_TOKEN = saved;
  }
}

/** A WebSocket speaking raw frames; `next()` waits for the next message, decoded. */
export class RawSocket {
  readonly ws: WebSocket;
  private readonly inbox: unknown[] = [];
  private waiters: Array<(m: unknown) => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => {
      const message = isBinary ? unpackr.unpack(data as Buffer) : JSON.parse(String(data));
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  sendBinary(message: unknown): void {
    this.ws.send(packr.pack(message));
  }

  sendText(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendRaw(data: Buffer | string, binary = true): void {
    this.ws.send(data, { binary });
  }

  next(ms = 3000): Promise<any> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: unknown) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next reply (skipping pushes). */
  async reply(ms = 3000): Promise<[number, 0 | 1, any]> {
    for (;;) {
      const m = (await this.next(ms)) as unknown[];
      if (typeof m[0] === 'number') return m as [number, 0 | 1, any];
    }
  }

  /** The next push named `event` (skipping others). */
  async push(event: string, ms = 3000): Promise<any> {
    for (;;) {
      const m = (await this.next(ms)) as unknown[];
      if (m[0] === event) return m[2];
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function joinedSocket(url: string, name: string, binary = true): Promise<RawSocket> {
  const socket = new RawSocket(url);
  await socket.open();
  const request = ['$auth', 1, { name }];
  if (binary) socket.sendBinary(request);
  else socket.sendText(request);
  const reply = await socket.reply();
  if (reply[1] !== 0) throw new Error(`join failed: ${JSON.stringify(reply[2])}`);
  return socket;
}
