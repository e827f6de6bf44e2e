#!/usr/bin/env node
// A closed-loop load generator of the seed PATCH over raw keep-alive sockets, for bench/tail.mjs: `connections`
// connections each send a PATCH (a fresh MS-RequestId, the country rotating as in wrk/workload.lua), wait for the
// whole answer and send the next, for `seconds`. Writes to OUT_FILE, as JSON, the start (epoch ms) and each answer as
// [ms since the start when it arrived, its latency in ms, its status]. Loopback only; stops by itself.
//
//   node bench/lib/closed-loop.mjs BASE_URL TOKEN CUSTOMER USER SECONDS CONNECTIONS OUT_FILE
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const [base, token, customer, user, secondsArg, connectionsArg, outFile] = process.argv.slice(2);
if (outFile === undefined) throw new Error('closed-loop: BASE_URL TOKEN CUSTOMER USER SECONDS CONNECTIONS OUT_FILE');
const url = new URL(base ?? '');
if (url.hostname !== '127.0.0.1') throw new Error(`closed-loop: only 127.0.0.1 (got ${base})`);
const seconds = Number(secondsArg);
const connections = Number(connectionsArg);
if (!(seconds > 0 && seconds <= 60) || !(connections >= 1 && connections <= 200)) throw new Error('closed-loop: SECONDS 1..60, CONNECTIONS 1..200');

const path = `/v1/customers/${customer}/users/${user}`;
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'JP', 'CA', 'AU', 'NL', 'SE', 'NO', 'DK', 'FI', 'IE', 'ES', 'IT', 'PT'];
let sentCount = 0;
function request() {
  const body = `{"usageLocation":"${COUNTRIES[sentCount++ % COUNTRIES.length]}","attributes":{"objectType":"CustomerUser"}}`;
  return `PATCH ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
    `Accept: application/json\r\nMS-RequestId: ${randomUUID()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const epoch = Date.now();
const t0 = performance.now();
const end = t0 + seconds * 1000;
const answers = [];
const HEAD_END = Buffer.from('\r\n\r\n');

function connection() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    let sentAt = 0;
    const next = () => {
      if (performance.now() >= end) {
        socket.end();
        resolve();
        return;
      }
      sentAt = performance.now();
      socket.write(request());
    };
    socket.on('connect', next);
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const headEnd = pending.indexOf(HEAD_END);
        if (headEnd < 0) return;
        const head = pending.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < headEnd + 4 + length) return;
        const now = performance.now();
        answers.push([Math.round((now - t0) * 100) / 100, Math.round((now - sentAt) * 100) / 100, Number(head.slice(9, 12))]);
        pending = pending.subarray(headEnd + 4 + length);
        next();
      }
    });
    socket.on('error', reject);
  });
}

await Promise.all(Array.from({ length: connections }, connection));
writeFileSync(outFile, JSON.stringify({ epoch, seconds, connections, answers }));
