import type { SocketLike } from './options.ts';

// Telling a server that is gone from one that is quiet. A frozen process, or
// a cable cut without a close, sends no close frame: the socket stays open
// and every call waits for ever. So the client watches the silence, asks
// with `$ping` after half of deadAfterMs, and after all of it treats the
// connection as closed (and reconnects, as after any close).

export interface Silence {
  /** Whether the socket is still the client's (a move or a close replaced it). */
  current(): boolean;
  /** When the server last sent anything (Date.now()). */
  heardAt(): number;
  ping(): void;
  /** The server is taken for gone: the socket was dropped; the client handles it as a close. */
  gone(silentMs: number): void;
}

/** Checks every quarter of `deadAfterMs` (0: never). */
export function watchSilence(socket: SocketLike, deadAfterMs: number, silence: Silence): void {
  if (!(deadAfterMs > 0)) return;
  const timer = setInterval(() => {
    if (!silence.current() || socket.readyState !== 1) return clearInterval(timer);
    const silent = Date.now() - silence.heardAt();
    if (silent >= deadAfterMs) {
      clearInterval(timer);
      detach(socket);
      silence.gone(silent);
    } else if (silent >= deadAfterMs / 2) silence.ping();
  }, deadAfterMs / 4);
  // In Node, a quiet client must not keep the process alive.
  (timer as { unref?: () => void }).unref?.();
}

/** Drops a socket without waiting for a closing handshake that a frozen server would never answer. */
export function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = () => undefined;
  const hard = socket as unknown as { terminate?: () => void };
  if (typeof hard.terminate === 'function') hard.terminate();
  else socket.close(4000, 'the server stopped answering');
}
