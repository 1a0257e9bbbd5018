// How a client is made: its options, and the WebSocket it needs (the
// browser's, or any with the same shape, such as the `ws` package's).

export type SocketLike = {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
};
export type SocketConstructor = new (url: string) => SocketLike;

export interface ClientOptions {
  /** 'msgpack' (binary frames, the default) or 'json' (text frames). */
  encoding?: 'msgpack' | 'json';
  /** Reconnect and resume after an unexpected close (default true). */
  reconnect?: boolean;
  /** First and largest delay between reconnection attempts. */
  backoffMs?: [number, number];
  /** A WebSocket implementation; default: the global one, else the `ws` package. */
  WebSocket?: SocketConstructor;
  /** Other nodes of a fleet to reconnect through when the node this client is on, and the first address, stay away. */
  fallbackUrls?: string[];
}
