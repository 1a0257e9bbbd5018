import { SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import type { SourceLocation } from '../errors.ts';
import { thrownMessage, thrownStack } from '../thrown.ts';

// Node applies no source map to code compiled by vm.compileFunction, so stack
// frames of patched code are mapped here, back to the TypeScript under
// logic/. Only versions that are live or kept for rollback are registered:
// a dropped version's map goes with it.

interface Entry {
  /** Parsed on first use: most versions never throw, and parsing costs on the patch path. */
  map: SourceMap | string;
  /** Folder the map's `sources` are relative to. */
  base: string;
  root: string;
}

const maps = new Map<string, Entry>();

/** The file name given to compiled code; stack frames carry it. */
export function codeUrl(kind: 'logic' | 'state', name: string, version: number): string {
  return `rebind:${kind}/${name}.ts@v${version}`;
}

export function registerSourceMap(url: string, mapJson: string, outfile: string, root: string): void {
  maps.set(url, { map: mapJson, base: path.dirname(outfile), root });
}

export function unregisterSourceMap(url: string): void {
  maps.delete(url);
}

const FRAME = /(rebind:[^\s()]+?@v\d+):(\d+):(\d+)/g;

function original(url: string, line: number, column: number): SourceLocation | undefined {
  const entry = maps.get(url);
  if (!entry) return undefined;
  if (typeof entry.map === 'string') entry.map = new SourceMap(JSON.parse(entry.map) as SourceMapPayload);
  const hit = entry.map.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
  if (!hit || hit.originalSource === undefined || hit.originalLine === undefined) return undefined;
  const file = path.relative(entry.root, path.resolve(entry.base, hit.originalSource)).split(path.sep).join('/');
  return { file, line: hit.originalLine + 1, column: (hit.originalColumn ?? 0) + 1 };
}

/** Rewrites every frame of patched code in a stack to `logic/x.ts:line:col`. */
export function mapStack(stack: string): string {
  return stack.replace(FRAME, (whole, url: string, line: string, column: string) => {
    const loc = original(url, Number(line), Number(column));
    return loc ? `${loc.file}:${loc.line}:${loc.column}` : whole;
  });
}

/** A thrown value for a log line: its stack mapped to logic's TypeScript, or its message (read without throwing: thrown.ts). */
export function mapThrown(err: unknown): string {
  const stack = thrownStack(err);
  return stack ? mapStack(stack) : thrownMessage(err);
}

/** The TypeScript location of the innermost frame of patched code in an error's stack. */
export function locateError(err: unknown): SourceLocation | undefined {
  const stack = thrownStack(err);
  if (!stack) return undefined;
  for (const match of stack.matchAll(FRAME)) {
    const loc = original(match[1]!, Number(match[2]), Number(match[3]));
    if (loc) return loc;
  }
  return undefined;
}
