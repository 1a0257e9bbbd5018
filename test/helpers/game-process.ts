import { RebindClient } from '../../client/index.ts';
import { listFiles, SNAPSHOT } from '../../server/store/data-files.ts';
import { readSnapshot } from '../../server/store/snapshot.ts';
import { startServerProcess, type ServerProcess } from './process.ts';
import { COUNTER_STATE, TempProject } from './project.ts';
import { SESSION_MODULE, SESSION_STATE } from './server.ts';

/**
 * A game of `files` (beside a counter store and a session module) served by a real server
 * process, with one player joined: `run` gets the player's client, the process and the project.
 * The process is killed and the project removed afterwards, whatever happened.
 */
/** The admin token the server of withGameProcess takes. */
export const ADMIN_TOKEN = 'game-process-token-0123456789';

export async function withGameProcess(files: Record<string, string>, run: (player: RebindClient, server: ServerProcess, project: TempProject) => Promise<void>): Promise<void> {
  const project = new TempProject({ 'state/counter.ts': COUNTER_STATE, 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE, ...files });
  const server = await startServerProcess(['--root', project.root, '--data', project.path('data')], { REBIND_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const player = new RebindClient(server.gameUrl, { reconnect: false });
    await player.connect();
    await player.join({ name: 'player' });
    try {
      await run(player, server, project);
    } finally {
      player.close();
    }
  } finally {
    await server.kill();
    project.cleanup();
  }
}

/** The `name` store's data in the last snapshot the server wrote to the project's data folder. */
export function lastSnapshotOf(project: TempProject, name: string): unknown {
  const last = listFiles(project.path('data'), SNAPSHOT).at(-1);
  if (!last) throw new Error('no snapshot was written');
  return readSnapshot(last.file).data?.stores.get(name)?.data;
}
