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
  /** A connection not open this long after it was started fails with CONNECT_FAILED (default 5000). */
  connectTimeoutMs?: number;
  /**
   * A server that sends nothing this long is taken for gone (frozen, or cut off without a close): the connection is
   * dropped and the client reconnects as after any close. After half of it in silence the client sends `$ping`.
   * Default 10000; 0 turns the check off.
   */
  deadAfterMs?: number;
}
