import { rebindError } from '../errors.ts';

// Stores accept only what survives a trip through MessagePack and JSON
// unchanged, so that snapshots, the journal and client sync all see the same
// value that logic wrote.

type PathKey = string | number;

export function describePath(store: string, path: readonly PathKey[]): string {
  return [store, ...path.map(String)].join('.');
}

function fail(store: string, path: readonly PathKey[], what: string): never {
  throw rebindError('NOT_PLAIN_DATA', `${describePath(store, path)}: ${what} is not plain data`, {
    details: { store, path: path.map(String) },
  });
}

function describeValue(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'bigint') return 'a bigint';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  const ctor = (value as object).constructor;
  return `an instance of ${ctor && typeof ctor === 'function' && ctor.name ? ctor.name : 'an unknown class'}`;
}

/**
 * Throws NOT_PLAIN_DATA naming `store.path.to.value` for the first thing that
 * is not plain data: functions, symbols, bigints, class instances (Date, Map,
 * ...), cycles, `undefined` inside arrays, NaN and the infinities. `undefined`
 * as an object property is allowed: both codecs drop or keep it harmlessly.
 */
export function assertPlain(value: unknown, store: string, path: PathKey[] = [], insideArray = false): void {
  const onStack = new Set<object>();
  const visit = (v: unknown, inArray: boolean): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) fail(store, path, describeValue(v));
        return;
      case 'undefined':
        if (inArray) fail(store, path, 'undefined in an array');
        return;
      case 'object':
        break;
      default:
        fail(store, path, describeValue(v));
    }
    if (v === null) return;
    const obj = v as object;
    if (onStack.has(obj)) fail(store, path, 'a cycle (a value that contains itself)');
    if (Array.isArray(obj)) {
      onStack.add(obj);
      for (let i = 0; i < obj.length; i++) {
        path.push(i);
        visit(obj[i], true);
        path.pop();
      }
      onStack.delete(obj);
      return;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) fail(store, path, describeValue(obj));
    if (Object.getOwnPropertySymbols(obj).length > 0) fail(store, path, 'an object with symbol keys');
    onStack.add(obj);
    for (const key of Object.keys(obj)) {
      path.push(key);
      visit((obj as Record<string, unknown>)[key], false);
      path.pop();
    }
    onStack.delete(obj);
  };
  visit(value, insideArray);
}
