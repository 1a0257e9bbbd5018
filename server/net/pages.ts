import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as esbuild from 'esbuild';
import { rebindError } from '../errors.ts';
import { answerBadRequest, requestUrl } from './http-safety.ts';

// Browser pages served over plain HTTP: an HTML file and its TypeScript
// entry, bundled with esbuild once, at start (no separate build step).

export interface Page {
  /** URL path of the HTML, e.g. `/`. */
  path: string;
  html: string;
  /** URL path of the script the HTML loads. */
  scriptPath: string;
  script: string;
}

export async function bundlePage(path: string, htmlFile: string, entry: string, scriptPath: string): Promise<Page> {
  let result: esbuild.BuildResult;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      // The client falls back to the `ws` package only outside browsers.
      external: ['ws'],
      // A library's stylesheet (uPlot's) comes in as text, which the page puts in a <style>.
      loader: { '.css': 'text' },
      sourcemap: 'inline',
      logLevel: 'silent',
    });
  } catch (err) {
    throw rebindError('PATCH_COMPILE_ERROR', `bundling ${entry} for the browser failed: ${(err as Error).message}`);
  }
  return { path, html: readFileSync(htmlFile, 'utf8'), scriptPath, script: result.outputFiles![0]!.text };
}

/** An HTTP handler for the pages; false for any other request. */
export function servePages(pages: Page[]): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = requestUrl(req, 'http://page');
    if (!url) {
      answerBadRequest(res);
      return true;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return true;
    }
    for (const page of pages) {
      if (url.pathname === page.path) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : page.html);
        return true;
      }
      if (url.pathname === page.scriptPath) {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : page.script);
        return true;
      }
    }
    return false;
  };
}
