/* global Buffer */
// Shared parts of the bare baseline servers: argument parsing, the user route, the listening line, and a
// watchdog that ends the server when the harness that started it is gone.
import { createServer } from 'node:http';
import { setInterval } from 'node:timers';

export function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) out[a.slice(2)] = argv[i + 1] ?? '';
    if (a.startsWith('--')) i++;
  }
  return out;
}

export const USER_ROUTE = /^\/v1\/customers\/([^/?]+)\/users\/([^/?]+)$/;

export function send(res, status, body) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Serves `GET /healthz` and `onUser(method, customerId, userId, bodyText)` on /v1/customers/:c/users/:u on
 * 127.0.0.1. `onUser` returns [status, body] or a promise of it.
 */
export function serveUsers(port, onUser) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return send(res, 200, '{"status":"ok"}');
      const m = USER_ROUTE.exec(path);
      if (!m) return send(res, 404, '{"code":404}');
      Promise.resolve()
        .then(() => onUser(req.method, m[1], m[2], Buffer.concat(chunks).toString('utf8')))
        .then(([status, body]) => send(res, status, body))
        .catch((err) => send(res, 500, { error: String(err) }));
    });
  });
  return listen(server, port);
}

/**
 * Listens on 127.0.0.1 (`port` 0: any free one), prints the listening line the harness waits for, and bounds the
 * server's life: it ends when the harness is gone (re-parented) and on SIGTERM.
 */
export function listen(server, port) {
  server.keepAliveTimeout = 72_000;
  server.listen(Number(port ?? 0), '127.0.0.1', () => {
    process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
  });
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  return server;
}
