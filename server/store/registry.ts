import { createRequire } from 'node:module';
import path from 'node:path';
import * as api from '../api.ts';
import { isRebindError, rebindError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { API_ID, relativeToRoot, type Artifact, type Builder, type ProjectPaths } from '../patch/build.ts';
import { evaluateBundle, TrackedTimers, type HostRequire } from '../patch/evaluate.ts';
import { listSourceFiles } from '../patch/modules.ts';
import { codeUrl, registerSourceMap } from '../patch/sourcemaps.ts';
import { collectStores } from './define.ts';
import type { StoreLike } from './store.ts';

// The host loads every state/*.ts once, at start, and never again. Logic's
// imports of those files resolve to the exports recorded here, so a patch can
// never create a second copy of a store.

export class StoreRegistry {
  readonly byName = new Map<string, StoreLike>();
  /** Absolute state file path to its exports. */
  readonly files = new Map<string, Record<string, unknown>>();

  add(store: StoreLike, where: string): void {
    if (this.byName.has(store.name)) {
      throw rebindError('DUPLICATE_STORE', `${where}: a store named "${store.name}" is already declared`, { details: { store: store.name } });
    }
    this.byName.set(store.name, store);
  }

  get(name: string): StoreLike {
    const store = this.byName.get(name);
    if (!store) throw rebindError('UNKNOWN_STORE', `no store named "${name}" (known: ${[...this.byName.keys()].join(', ') || 'none'})`);
    return store;
  }

  owns(store: unknown): boolean {
    return this.byName.get((store as StoreLike).name) === store;
  }

  /** What logic's `require` sees: the host's api, its state files, then Node. */
  hostRequire(paths: ProjectPaths, onStateMissing: (file: string) => never): HostRequire {
    const nodeRequire = createRequire(path.join(paths.root, 'package.json'));
    return (specifier: string) => {
      if (specifier === API_ID) return api;
      const state = this.files.get(specifier);
      if (state) return state;
      if (path.isAbsolute(specifier) && specifier.startsWith(path.resolve(paths.stateDir) + path.sep)) return onStateMissing(specifier);
      return nodeRequire(specifier);
    };
  }
}

export async function loadState(paths: ProjectPaths, builder: Builder, registry: StoreRegistry): Promise<void> {
  const files = listSourceFiles(paths.stateDir);
  const built = new Map<string, Artifact>();
  for (const file of files) {
    const rel = relativeToRoot(paths.root, file);
    try {
      built.set(file, await builder.buildOnce(file, path.join(paths.root, '.rebind', rel + '.js')));
    } catch (err) {
      throw asStateError(err, rel);
    }
  }
  const evaluating = new Set<string>();
  const timers = new TrackedTimers((err) => createLogger('state').error('a timer or event listener in state/ failed', err));
  const require = registry.hostRequire(paths, (file) => evaluate(file) as never);

  function evaluate(file: string): Record<string, unknown> {
    const done = registry.files.get(file);
    if (done) return done;
    const rel = relativeToRoot(paths.root, file);
    const artifact = built.get(file);
    if (!artifact) throw rebindError('STATE_LOAD_ERROR', `${rel} does not exist`);
    if (evaluating.has(file)) throw rebindError('STATE_LOAD_ERROR', `${rel} is part of an import cycle between state files`);
    evaluating.add(file);
    const url = codeUrl('state', relativeToRoot(paths.stateDir, file).replace(/\.ts$/, ''), 1);
    registerSourceMap(url, artifact.map, artifact.outfile, paths.root);
    let exports: Record<string, unknown>;
    try {
      // Every store is registered as it is defined, however (or whether) it is exported.
      exports = collectStores((store) => registry.add(store, rel), () => evaluateBundle(artifact.code, url, rel, require, timers));
    } catch (err) {
      throw asStateError(err, rel);
    }
    evaluating.delete(file);
    registry.files.set(file, exports);
    return exports;
  }

  for (const file of files) evaluate(file);
}

function asStateError(err: unknown, rel: string): Error {
  if (isRebindError(err) && (err.code === 'DUPLICATE_STORE' || err.code === 'STATE_LOAD_ERROR' || err.code === 'NOT_PLAIN_DATA')) return err;
  const message = err instanceof Error ? err.message : String(err);
  return rebindError('STATE_LOAD_ERROR', message.startsWith(rel) || message.includes('.ts:') ? message : `${rel}: ${message}`, {
    ...(isRebindError(err) && err.location ? { location: err.location } : {}),
    cause: err,
  });
}
