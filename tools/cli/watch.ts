import { existsSync } from 'node:fs';
import path from 'node:path';
import { LogicWatcher } from '../../server/patch/watcher.ts';
import type { PatchRecord } from '../../server/admin/protocol.ts';
import { CliError, type AdminClient } from './admin-client.ts';
import { writeProjectTypes } from './types.ts';

// `rebind watch`: the developer's loop against a server started without
// --watch. The server's own watcher (coalesced saves, decided by content,
// a rescan after every patch), handing each save to the server over the
// admin channel. The server rebuilds from its own logic folder: run this beside it.

export async function watchAndPatch(client: AdminClient, root: string, print: (record: PatchRecord) => void): Promise<void> {
  const logicDir = path.join(root, 'logic');
  if (!existsSync(logicDir)) throw new CliError(`${logicDir} does not exist: run rebind watch in the project folder, or pass --root`, 2, 'USAGE');
  const patcher = { patch: () => client.request('patch', {}) };
  // After each patch that took, rebind-env.d.ts is written again from the files, as the server does under --watch.
  const report = (record: PatchRecord): void => {
    if (record.noop) return;
    print(record);
    if (record.ok) {
      writeProjectTypes(root).then(
        (written) => written.refused.forEach((line) => process.stderr.write(`rebind: warning: ${line}\n`)),
        (err: unknown) => process.stderr.write(`rebind: could not write rebind-env.d.ts: ${(err as Error).message}\n`),
      );
    }
  };
  const watcher = new LogicWatcher(patcher, { root, logicDir, stateDir: path.join(root, 'state'), apiFiles: [] }, { report });
  await watcher.start();
  process.stderr.write(`watching ${logicDir}; every save patches the server (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await watcher.close();
}
