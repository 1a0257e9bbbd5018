import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from './node-process.ts';
import { startRedis, type LocalRedis } from './redis-server.ts';

// A fleet of real node processes on one redis-server, all on this machine:
// each node its own data folder under the project's root, ports chosen by
// the system and read from the node's log, killable with SIGKILL and
// restartable from its folder. Used by the fleet tests and benchmarks alike.

export interface FleetNodeProcess {
  /** Index in the fleet (0, 1, 2...): the same after a restart. */
  index: number;
  /** The fleet node id the node logged (kept in its data folder, so the same after a restart). */
  id: string;
  dataDir: string;
  proc: ServerProcess;
  gameUrl: string;
  adminUrl: string;
}

export interface LocalFleet {
  redis: LocalRedis;
  nodes: FleetNodeProcess[];
  /** kill -9, and wait for the exit. */
  kill(index: number): Promise<void>;
  /** Starts the node again from its data folder (after kill or stop). */
  restart(index: number): Promise<FleetNodeProcess>;
  /** Every node's log, for a failing test's message. */
  logs(): string;
  /** Kills every node, and the redis-server if this fleet started it. */
  stop(): Promise<void>;
}

export interface LocalFleetSetup {
  nodes: number;
  /** The game's project folder (state/, logic/); node i keeps its data in data-i there. */
  root: string;
  /** Extra flags for every node. */
  args?: string[];
  env?: Record<string, string>;
  /** An existing redis (default: a fresh one, stopped with the fleet). */
  redis?: LocalRedis;
  /** Wait for each node's registration in Redis, not only its id (a benchmark that patches at once needs it). */
  waitRegistered?: boolean;
}

async function startNode(redis: LocalRedis, index: number, setup: LocalFleetSetup): Promise<FleetNodeProcess> {
  const dataDir = path.join(setup.root, `data-${index}`);
  mkdirSync(dataDir, { recursive: true });
  const args = ['--root', setup.root, '--data', dataDir, '--fleet', redis.url, ...(setup.args ?? [])];
  const proc = await startServerProcess(args, { REBIND_LOG: 'info', NO_COLOR: '1', ...setup.env }, setup.waitRegistered ? /node \S+ registered/ : undefined);
  const id = /fleet node (\S+) on/.exec(proc.output())?.[1];
  if (!id) {
    await proc.kill();
    throw new Error(`node ${index} did not log its fleet node id:\n${proc.output()}`);
  }
  return { index, id, dataDir, proc, gameUrl: proc.gameUrl, adminUrl: proc.adminUrl };
}

export async function startLocalFleet(setup: LocalFleetSetup): Promise<LocalFleet> {
  const redis = setup.redis ?? (await startRedis());
  const nodes: FleetNodeProcess[] = [];
  try {
    // One at a time: on two shared cores, parallel starts only make each slower.
    for (let i = 0; i < setup.nodes; i++) nodes.push(await startNode(redis, i, setup));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.proc.kill()));
    if (!setup.redis) await redis.stop();
    throw err;
  }
  return {
    redis,
    nodes,
    async kill(index) {
      await nodes[index]!.proc.kill();
    },
    async restart(index) {
      const node = await startNode(redis, index, setup);
      nodes[index] = node;
      return node;
    },
    logs() {
      return nodes.map((n) => `--- node ${n.index} (${n.id}) ---\n${n.proc.output()}`).join('\n');
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.proc.kill()));
      if (!setup.redis) await redis.stop();
    },
  };
}
