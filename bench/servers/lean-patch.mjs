/* global Buffer */
// (e) A lean bound for the seed PATCH (bench/lean-patch.mjs). The same SQLite writes as PartnerKit's changing PATCH
// (bench/lib/sqlite-patch.mjs), in a copy of PartnerKit's own data file, with PartnerKit's own checkpoint thread: the
// user's read and update, the audit record with the old and new values, the replay record with the answer, each PATCH
// in a savepoint, one COMMIT for the PATCHes of a turn of the event loop. About the same request work, written as one
// function on bare node:http: the bearer token looked up in a map, the customer in a map (a GDAP check answered from
// memory), the body parsed and checked, the request id looked up in a set, a SHA-256 fingerprint, PartnerKit's 14
// answer headers. No framework, no logging, no layers. Not a product: what a design with the same writes could reach.
//
//   node lean-patch.mjs --db FILE --token TOKEN --partner ID [--port N] [--fastify 1]
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { setImmediate } from 'node:timers';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { prepareWrites } from '../lib/sqlite-patch.mjs';
import { wireUser } from '../lib/users.mjs';
import { args, listen, USER_ROUTE } from './common.mjs';
// PartnerKit's own checkpoint thread (the built server's), as its store runs it.
import { Checkpointer } from '../../packages/server/dist/store/checkpointer.js';

const a = args();
if (!a.db || !a.token || !a.partner) throw new Error('usage: lean-patch.mjs --db FILE --token TOKEN --partner ID [--port N] [--fastify 1]');
const db = new Database(a.db, { fileMustExist: true });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
const checkpointer = new Checkpointer(db);
const w = prepareWrites(db);
const begin = db.prepare('begin immediate');
const commit = db.prepare('commit');
const customerById = db.prepare('select * from customers where id = ?');

const actors = new Map([[`Bearer ${a.token}`, { partnerId: a.partner, upn: 'agent@contoso.example', appId: randomUUID() }]]);
const customers = new Map();
const replayKeys = new Set();
const ANSWER_HEADERS = JSON.stringify({ 'content-type': 'application/json; charset=utf-8' });
const FIXED_HEADERS = [
  'cache-control', 'no-store', 'content-security-policy', "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy', 'no-referrer', 'x-content-type-options', 'nosniff', 'x-frame-options', 'DENY', 'ms-serverid', 'PK000001',
];
const COUNTRY = /^[A-Za-z]{2}$/;

/** The answer headers that change per request, as name, value pairs. */
const requestHeaders = (requestId) => [
  'ms-requestid', requestId, 'ms-correlationid', randomUUID(), 'ms-cv', `${randomBytes(12).toString('base64url')}.0`,
];

/** PartnerKit's answer headers but the content type and length, as an object (for Fastify's reply). */
function fastifyHeaders(requestId) {
  const pairs = [...FIXED_HEADERS, ...requestHeaders(requestId)];
  const out = {};
  for (let i = 0; i < pairs.length; i += 2) out[pairs[i]] = pairs[i + 1];
  return out;
}

function send(res, status, body, requestId) {
  res.writeHead(status, [
    ...FIXED_HEADERS, 'content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)),
    ...requestHeaders(requestId),
  ]);
  res.end(body);
}

const auditValue = (u) => JSON.stringify({
  UsageLocation: u.usage_location, Id: u.id, UserPrincipalName: u.upn, FirstName: u.first_name, LastName: u.last_name,
  DisplayName: u.display_name, UserDomainType: u.user_domain_type, State: u.state,
  Links: { Self: { Uri: `/customers/${u.customer_id}/users/${u.id}`, Method: 'GET', Body: null, Headers: [] } },
  Attributes: { ObjectType: 'CustomerUser' },
});

let turn = [];
let sequence = 0;

/** One PATCH's writes, in its savepoint of the open batch: the answer's text, or undefined (no such user). */
function change(p) {
  const before = w.read.all(p.userId, p.customer.id)[0];
  if (before === undefined) return undefined;
  const after = { ...before, usage_location: p.usageLocation ?? before.usage_location };
  const now = Date.now();
  if (after.usage_location !== before.usage_location) {
    w.update.run(after.usage_location, before.id);
    sequence = (sequence + 1) % 10_000;
    w.audit.run(
      `${p.actor.partnerId}_${p.customer.id}_${before.id}_updatecustomeruser_${String(now)}${String(sequence).padStart(4, '0')}`,
      p.actor.partnerId, p.customer.id, p.customer.company_name, p.actor.upn, p.actor.appId, 'customer_user',
      auditValue(before), auditValue(after), 'update_customer_user', p.correlationId, new Date(now).toISOString(), 'succeeded',
      JSON.stringify([{ key: 'CustomerUserId', value: before.id }, { key: 'UserPrincipalName', value: before.upn }]),
    );
  }
  const answer = JSON.stringify(wireUser(after));
  w.replay.run(p.actor.partnerId, p.requestId, p.fingerprint, 200, ANSWER_HEADERS, answer, now, randomUUID());
  return answer;
}

/** Commits the turn's PATCHes in one transaction, each in its savepoint, then answers them. */
function commitTurn() {
  const batch = turn;
  turn = [];
  const answers = [];
  begin.run();
  for (const p of batch) {
    w.savepoint.run();
    try {
      answers.push(change(p));
      w.release.run();
    } catch (err) {
      w.rollback.run();
      w.release.run();
      answers.push(err);
    }
  }
  commit.run();
  checkpointer.committed();
  batch.forEach((p, i) => {
    const answer = answers[i];
    if (answer instanceof Error) p.respond(500, '{"code":500}', p.requestId);
    else if (answer === undefined) p.respond(404, '{"code":600008}', p.requestId);
    else {
      replayKeys.add(`${p.actor.partnerId}\n${p.requestId}`);
      p.respond(200, answer, p.requestId);
    }
  });
}

/**
 * One request, whichever HTTP layer read it: `body` is the parsed JSON when that layer parsed it (its text, for the
 * fingerprint, is then the parsed value's JSON, as PartnerKit makes it), else it is parsed from `text` here.
 * `respond(status, text, requestId)` answers, at once or after the turn's commit.
 */
function accept(method, url, headers, text, body, respond) {
  const requestId = headers['ms-requestid'] ?? randomUUID();
  const actor = actors.get(headers.authorization);
  if (actor === undefined) return respond(401, '{"code":401}', requestId);
  const m = USER_ROUTE.exec(url);
  if (method !== 'PATCH' || m === null) return respond(404, '{"code":404}', requestId);
  let customer = customers.get(m[1]);
  if (customer === undefined) {
    customer = customerById.get(m[1]) ?? null;
    customers.set(m[1], customer);
  }
  if (customer === null) return respond(403, '{"code":403}', requestId);
  if (body === undefined) {
    try {
      body = JSON.parse(text);
    } catch {
      return respond(400, '{"code":400}', requestId);
    }
  }
  const bad = typeof body !== 'object' || body === null
    || (body.usageLocation !== undefined && !(typeof body.usageLocation === 'string' && COUNTRY.test(body.usageLocation)))
    || (body.attributes?.objectType !== undefined && body.attributes.objectType !== 'CustomerUser');
  if (bad) return respond(400, '{"code":400}', requestId);
  if (replayKeys.has(`${actor.partnerId}\n${requestId}`)) return respond(409, '{"code":409}', requestId);
  turn.push({
    respond, actor, customer, requestId, correlationId: randomUUID(), userId: m[2].toLowerCase(),
    usageLocation: body.usageLocation?.toUpperCase(),
    fingerprint: createHash('sha256').update(`PATCH ${url}\n${text}`).digest('base64url'),
  });
  // After pending I/O: the PATCHes read in this turn of the event loop share the commit.
  if (turn.length === 1) setImmediate(commitTurn);
  return undefined;
}

if (a.fastify === undefined) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const respond = (status, text, requestId) => send(res, status, text, requestId);
      if (req.url === '/healthz') return respond(200, '{"status":"ok"}', randomUUID());
      return accept(req.method, req.url, req.headers, Buffer.concat(chunks).toString('utf8'), undefined, respond);
    });
  });
  listen(server, a.port);
} else {
  // `--fastify 1`: the same request work as a Fastify route (its JSON body parser, its reply), to tell the
  // framework's share from the rest.
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.patch('/v1/customers/:customerId/users/:userId', (req, reply) => {
    accept('PATCH', req.url, req.headers, JSON.stringify(req.body), req.body, (status, text, requestId) => {
      reply.code(status).headers(fastifyHeaders(requestId)).type('application/json; charset=utf-8').send(text);
    });
    return reply;
  });
  await app.ready();
  listen(app.server, a.port);
}
