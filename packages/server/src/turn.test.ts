/** The end of the event loop's turn, which answers to reads and batched store requests wait for. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { endOfTurn } from './turn.js';

async function listeningServer(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

test('everyone who waits in one turn shares one end, and the next turn has its own', async () => {
  const first = endOfTurn();
  assert.equal(endOfTurn(), first);
  await first;
  const next = endOfTurn();
  assert.notEqual(next, first);
  await next;
});

test('the end comes after the I/O callbacks of its turn: data that arrived on several sockets together is all read first', async () => {
  const { server, port } = await listeningServer();
  const accepted: Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  const clients = await Promise.all([0, 1, 2, 3].map(async () => {
    const c = connect(port, '127.0.0.1');
    await once(c, 'connect');
    return c;
  }));
  while (accepted.length < clients.length) await new Promise((resolve) => setTimeout(resolve, 5));
  try {
    const read: number[] = [];
    const seen: number[][] = [];
    accepted.forEach((s, i) => {
      s.on('data', () => {
        read.push(i);
        void endOfTurn().then(() => seen.push([...read].sort((a, b) => a - b)));
      });
    });
    // The four writes reach the kernel now, so the server's next poll finds all four sockets readable at once.
    for (const c of clients) c.write('x');
    while (seen.length < clients.length) await new Promise((resolve) => setTimeout(resolve, 5));
    // Each waiter resumed only once all four had been read, its own and the others of its turn.
    assert.deepEqual(seen, [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]);
  } finally {
    for (const c of clients) c.destroy();
    server.close();
  }
});

test('work that the end of a turn sets going ends in the same turn: after all its promise jobs, before the next I/O', async () => {
  const { server, port } = await listeningServer();
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted;
  try {
    const order: string[] = [];
    peer.on('data', () => order.push('next turn: data read'));
    await endOfTurn().then(async () => {
      // Data that reaches the kernel now is read in the next turn's poll for I/O.
      client.write('x');
      const end = endOfTurn();
      // Work of this turn's end that goes on through promise jobs only (a chain of them, as a request's steps are).
      void (async () => {
        for (let i = 0; i < 10; i++) await Promise.resolve();
        order.push('work done');
      })();
      await end;
      order.push('its end');
    });
    while (order.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(order, ['work done', 'its end', 'next turn: data read']);
  } finally {
    client.destroy();
    server.close();
  }
});
