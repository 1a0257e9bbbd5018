import WebSocket from 'ws';

// One admin request over a fresh connection, the way the CLI makes it.

export function adminRequest<T = unknown>(url: string, token: string, action: string, args: Record<string, unknown> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => ws.send(JSON.stringify([action, 1, args])));
    ws.on('message', (data) => {
      const [seq, failed, result] = JSON.parse(String(data)) as [unknown, number, unknown];
      // A patch pushes ['patch', 0, record] to every admin socket, often before the answer.
      if (seq !== 1) return;
      ws.close();
      if (failed) reject(Object.assign(new Error(JSON.stringify(result)), result as object));
      else resolve(result as T);
    });
    ws.once('error', reject);
  });
}
