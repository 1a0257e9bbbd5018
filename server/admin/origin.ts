import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { parseUrl } from '../net/http-safety.ts';

// Which browser pages may open the admin WebSocket: only the dashboard the
// admin port serves itself. A browser always sends `Origin`; the CLI and
// scripts send none and are judged by their token alone. A page elsewhere
// (another site, another local port) is refused before the token is even
// looked at, so a page cannot use a token that leaked into the browser.

export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers.host;
  if (!host || (origin !== `http://${host}` && origin !== `https://${host}`)) return false;
  // Same origin under a DNS name could be a rebinding attack (evil.example resolving to
  // 127.0.0.1): the dashboard is reached by address, or as localhost. An Origin that is
  // not a URL at all (`http://a b`) is refused, never thrown on.
  const hostname = parseUrl(origin)?.hostname.replace(/^\[|\]$/g, '');
  return hostname !== undefined && (hostname === 'localhost' || isIP(hostname) !== 0);
}
