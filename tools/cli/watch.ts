import { existsSync } from 'node:fs';
import path from 'node:path';
import { LogicWatcher } from '../../server/patch/watcher.ts';
import { PATCH_PUSH, type PatchRecord } from '../../server/admin/protocol.ts';
import { CliError, type AdminClient } from './admin-client.ts';
import { writeProjectTypes } from './types.ts';
import { formatWindow } from '../../server/patch/verify-window.ts';
import { logToStderr } from '../../server/log.ts';

// `rebind watch`: the developer's loop against a server started without
// --watch. The server's own watcher (coalesced saves, decided by content,
// a rescan after every patch), handing each save to the server over the
// admin channel. The server rebuilds from its own logic folder: run this beside it.
// With a verification window, each save's patch is verified on the server as
// `rebind patch --verify` would, but the next save does not wait for the
// window: the patch is asked for detached, and the verification's outcome (a
// confirm or an auto-rollback record, pushed to every admin connection) is
// printed when it comes.

// What the watcher logs goes to stderr: the CLI's stdout is its answer, --json included. (Here, not in
// tools/rebind.ts: the logger loads pino, which only this command needs.)
logToStderr();

export async function watchAndPatch(client: AdminClient, root: string, print: (record: PatchRecord) => void, verifyMs?: number): Promise<void> {
  const logicDir = path.join(root, 'logic');
  if (!existsSync(logicDir)) throw new CliError(`${logicDir} does not exist: run rebind watch in the project folder, or pass --root`, 2, 'USAGE');
  // Outcomes by the patch they decide; one that comes before its patch's reply waits there.
  const verifying = new Set<number>();
  const early = new Map<number, PatchRecord>();
  client.onPush((event, payload) => {
    const record = payload as PatchRecord;
    if (event !== PATCH_PUSH || !record.verify || !('patch' in record.verify)) return;
    if (verifying.delete(record.verify.patch)) print(record);
    else early.set(record.verify.patch, record);
  });
  const patcher = {
    patch: async () => {
      const record = await client.request('patch', verifyMs ? { verify: verifyMs, detach: true } : {});
      if (!verifyMs || !record.ok || record.noop) return record;
      const outcome = early.get(record.id);
      // Printed after the patch itself (the watcher reports it when this returns).
      if (outcome) queueMicrotask(() => print(outcome));
      else verifying.add(record.id);
      early.clear();
      return record;
    },
  };
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
  const verified = verifyMs ? `, verified for ${formatWindow(verifyMs)} (over budget it rolls back on its own)` : '';
  process.stderr.write(`watching ${logicDir}; every save patches the server${verified} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await watcher.close();
}
