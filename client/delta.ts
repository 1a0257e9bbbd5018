import type { WirePatch } from './replica.ts';

// Reads a compact `$delta` (docs/protocol.md) back into the patches the
// replica applies: paths start with the store's name, keys come from the
// room's dictionary, a negative number -1 - i is array index i.

const SET = 0;
const REMOVE = 1;
const INSERT = 2;
const TRIM = 3;
const ROWS = 4;

export class DeltaError extends Error {}

function key(keys: ReadonlyArray<string | null>, id: unknown): string {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= keys.length) throw new DeltaError(`key id ${String(id)} is not in the room's dictionary (${keys.length} keys)`);
  const name = keys[id];
  if (name === null || name === undefined) throw new DeltaError(`key id ${id} is a row this client was never shown (the server did not name it)`);
  return name;
}

function path(keys: ReadonlyArray<string | null>, ids: unknown): Array<string | number> {
  if (!Array.isArray(ids) || ids.length === 0) throw new DeltaError('a delta path must be a non-empty list of key ids');
  return ids.map((id: unknown, i) => (i > 0 && typeof id === 'number' && id < 0 ? -1 - id : key(keys, id)));
}

/**
 * The patches of a delta's tokens (from `start`: after the room and the new
 * keys), paths rooted at the room: `[store, ...]`. `keys` already holds the
 * new keys. Throws DeltaError on anything malformed.
 */
export function readDelta(tokens: readonly unknown[], keys: ReadonlyArray<string | null>, start = 0): WirePatch[] {
  const out: WirePatch[] = [];
  let i = start;
  const next = (): unknown => {
    if (i >= tokens.length) throw new DeltaError('a delta ends in the middle of an op');
    return tokens[i++];
  };
  while (i < tokens.length) {
    const code = next();
    switch (code) {
      case SET:
        out.push({ op: 'replace', path: path(keys, next()), value: next() });
        break;
      case REMOVE:
        out.push({ op: 'remove', path: path(keys, next()) });
        break;
      case INSERT:
        out.push({ op: 'add', path: path(keys, next()), value: next() });
        break;
      case TRIM:
        out.push({ op: 'trim', path: path(keys, next()), value: next() });
        break;
      case ROWS: {
        const store = key(keys, next());
        const fields = next();
        const count = next();
        if (!Array.isArray(fields) || typeof count !== 'number') throw new DeltaError('a row group needs a list of field ids and a row count');
        const names = fields.map((f: unknown) => key(keys, f));
        let row = 0;
        for (let r = 0; r < count; r++) {
          const gap = next();
          if (typeof gap !== 'number') throw new DeltaError('a row group\'s row gap must be a number');
          row += gap;
          const id = key(keys, row);
          for (const field of names) out.push({ op: 'replace', path: [store, id, field], value: next() });
        }
        break;
      }
      default:
        throw new DeltaError(`unknown delta op ${JSON.stringify(code)}`);
    }
  }
  return out;
}
