import { mkdirSync } from 'node:fs';
import { startServerProcess, type ServerProcess } from './process.ts';
import { TempProject } from './project.ts';
import { startRedis, type TestRedis } from './redis.ts';

// A fleet of real node processes (server/main.ts, as `npm start` runs it) on
// one test redis-server: each node its own data folder, ports chosen by the
// system and read from the node's log, killable with SIGKILL and restartable
// from its folder.

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

export interface TestFleet {
  redis: TestRedis;
  project: TempProject;
  nodes: FleetNodeProcess[];
  /** kill -9, and wait for the exit. */
  kill(index: number): Promise<void>;
  /** Starts the node again from its data folder (after kill or stop). */
  restart(index: number): Promise<FleetNodeProcess>;
  /** Every node's log, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

export interface FleetSetup {
  nodes: number;
  /** state/ and logic/ of the game the nodes run. */
  files: Record<string, string>;
  /** Extra flags for every node. */
  args?: string[];
  env?: Record<string, string>;
  /** An existing redis (default: a fresh one, stopped with the fleet). */
  redis?: TestRedis;
}

async function startNode(fleet: { redis: TestRedis; project: TempProject }, index: number, setup: FleetSetup): Promise<FleetNodeProcess> {
  const dataDir = fleet.project.path(`data-${index}`);
  mkdirSync(dataDir, { recursive: true });
  const proc = await startServerProcess(['--root', fleet.project.root, '--data', dataDir, '--fleet', fleet.redis.url, ...(setup.args ?? [])], { REBIND_LOG: 'info', NO_COLOR: '1', ...setup.env });
  const id = /fleet node (\S+) on/.exec(proc.output())?.[1];
  if (!id) {
    await proc.kill();
    throw new Error(`node ${index} did not log its fleet node id:\n${proc.output()}`);
  }
  return { index, id, dataDir, proc, gameUrl: proc.gameUrl, adminUrl: proc.adminUrl };
}

export async function startFleet(setup: FleetSetup): Promise<TestFleet> {
  const redis = setup.redis ?? (await startRedis());
  const project = new TempProject(setup.files);
  const base = { redis, project };
  const nodes: FleetNodeProcess[] = [];
  try {
    // One at a time: on two shared cores, parallel starts only make each slower.
    for (let i = 0; i < setup.nodes; i++) nodes.push(await startNode(base, i, setup));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.proc.kill()));
    if (!setup.redis) await redis.stop();
    project.cleanup();
    throw err;
  }
  return {
    redis,
    project,
    nodes,
    async kill(index) {
      await nodes[index]!.proc.kill();
    },
    async restart(index) {
      const node = await startNode(base, index, setup);
      nodes[index] = node;
      return node;
    },
    logs() {
      return nodes.map((n) => `--- node ${n.index} (${n.id}) ---\n${n.proc.output()}`).join('\n');
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.proc.kill()));
      if (!setup.redis) await redis.stop();
      project.cleanup();
    },
  };
}
