import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { CliError, type AdminClient } from './admin-client.ts';
import type { PatchRecord } from './format.ts';

// `rebind watch`: the developer's loop against a server started without
// --watch. Saves are coalesced, and what is sent is decided by content, with
// a rescan after every patch, so a save whose event was dropped still lands.
// The server rebuilds from its own logic folder: run this beside it.

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files(full, out);
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function fingerprint(dir: string): string {
  const hash = createHash('sha256');
  for (const file of files(dir).sort()) {
    hash.update(file);
    try {
      hash.update(readFileSync(file));
    } catch {
      hash.update('missing');
    }
  }
  return hash.digest('hex');
}

export async function watchAndPatch(client: AdminClient, root: string, print: (record: PatchRecord) => void): Promise<void> {
  const logic = path.join(root, 'logic');
  if (!existsSync(logic)) throw new CliError(`${logic} does not exist: run rebind watch in the project folder, or pass --root`, 2, 'USAGE');
  let seen = fingerprint(logic);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let busy = false;
  let again = false;

  const flush = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    const now = fingerprint(logic);
    if (now === seen) return;
    seen = now;
    busy = true;
    try {
      const record = await client.request<PatchRecord>('patch', {});
      if (!record.noop) print(record);
    } finally {
      busy = false;
    }
    // Look once more: saves that came (or whose events were lost) while we patched.
    if (again) {
      again = false;
      void flush();
    } else setTimeout(() => void flush(), 150);
  };

  const { watch } = await import('chokidar');
  const watcher = watch(logic, { ignoreInitial: true });
  const onEvent = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void flush(), 40);
  };
  watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  process.stderr.write(`watching ${logic}; every save patches the server (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearTimeout(timer);
  void watcher.close();
}
