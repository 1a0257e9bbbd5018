import { produce, type Draft } from 'immer';
import { isRebindError, rebindError } from '../errors.ts';
import type { StoreRegistry } from '../store/registry.ts';
import { currentTransaction } from '../store/transaction.ts';
import type { ModuleVersion } from './bindings.ts';
import { locateError } from './sourcemaps.ts';

// Migrations travel inside a patch: `export const migrations = { players: {
// 1: draft => {...} } }` moves the players store from version 1 to 2. They
// run in the patch's transaction, so a migration that throws rejects the
// whole patch, and the new version is committed with the data it describes:
// on data already at version 2 the step for 1 can never run again.

/** Runs every pending migration of the new versions; returns "store v1->v2" lines. */
export function runMigrations(versions: readonly ModuleVersion[], registry: StoreRegistry): string[] {
  const tx = currentTransaction();
  if (!tx) throw new Error('runMigrations needs a transaction');
  const done: string[] = [];
  for (const version of versions) {
    for (const [storeName, steps] of Object.entries(version.migrations ?? {})) {
      const store = registry.byName.get(storeName);
      if (!store) {
        throw rebindError('PATCH_MIGRATION_ERROR', `${version.module}: migrations name a store "${storeName}" that does not exist`, { details: { module: version.module, store: storeName } });
      }
      const from = tx.versions.get(store) ?? store.version;
      let at = from;
      for (let step = steps[at]; typeof step === 'function'; step = steps[at]) {
        const migrate = step;
        try {
          store.replaceAll(produce(store.current(), (draft: Draft<unknown>) => migrate(draft)));
        } catch (err) {
          if (isRebindError(err) && err.code === 'NOT_PLAIN_DATA') throw err;
          const location = locateError(err);
          const message = err instanceof Error ? err.message : String(err);
          throw rebindError('PATCH_MIGRATION_ERROR', `${location ? `${location.file}:${location.line}:${location.column}` : version.module}: migration of ${storeName} from version ${at} to ${at + 1} threw: ${message}`, {
            ...(location ? { location } : {}),
            details: { module: version.module, store: storeName, from: at },
          });
        }
        at++;
      }
      if (at !== from) {
        tx.versions.set(store, at);
        done.push(`${storeName} v${from}->v${at}`);
      }
    }
  }
  return done;
}
