/**
 * The built executable as a process (contract section 4): start-up line and demo banner, --help, refused flags
 * and seeds, SIGTERM draining, and durability across `kill -9` and restarts, on the test engine's store (SQLite in
 * the data directory, or a PostgreSQL database). Needs `npm run build` first (dist/bundle/main.js).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { copyFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { demoAgentToken, DEMO, DEMO_IDS, SERVER_MAIN, spawnServer, storeArgs, TEST_ENGINE, type ServerProcess } from './testing/harness.js';
import { DEMO_SEED } from './seed/demo.js';

const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
const QUIET = ['--log-level', 'warn'];

const dirs: string[] = [];
const running: ServerProcess[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'partnerkit-proc-'));
  dirs.push(d);
  return d;
}
async function start(args: string[]): Promise<ServerProcess> {
  const p = await spawnServer([...args, ...QUIET]);
  running.push(p);
  return p;
}
after(async () => {
  for (const p of running) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs the executable to its end (for runs that never listen). */
function runToExit(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SERVER_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`still running after ${String(timeoutMs)} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Waits until the process output matches (the banner arrives after the listening line). */
async function waitForOutput(p: ServerProcess, re: RegExp, timeoutMs = 5_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (!re.test(p.output())) {
    if (Date.now() > until) throw new Error(`no ${String(re)} in:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return p.output();
}


interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function api(baseUrl: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'MS-RequestId': randomUUID(), ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

interface AuditItem {
  operationType: string;
  resourceNewValue?: string;
  customizedData: { key: string; value: string }[];
}

/** Every audit record of the partner since yesterday, following the seek pages. */
async function allAudit(baseUrl: string, token: string): Promise<AuditItem[]> {
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const out: AuditItem[] = [];
  let r = await api(baseUrl, token, 'GET', `/v1/auditrecords?startDate=${day}&size=500`);
  for (;;) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...(r.body.items as AuditItem[]));
    const next = r.body.continuationToken;
    if (typeof next !== 'string') return out;
    r = await api(baseUrl, token, 'GET', `/v1/auditrecords?size=500&seekOperation=Next`, undefined, { 'MS-ContinuationToken': next });
  }
}
const auditUser = (a: AuditItem): string | undefined => a.customizedData.find((d) => d.key === 'CustomerUserId')?.value;

describe('command line', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await runToExit(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: partnerkit-server \[options\]/);
    for (const flag of ['--port', '--data-dir', '--seed', '--demo', '--no-require-mfa', '--throttle']) assert.ok(r.stdout.includes(flag));
    assert.doesNotMatch(r.stdout, /listening/);
  });

  test('an unknown flag exits 2 with a message on stderr', async () => {
    const r = await runToExit(['--port', '0', '--frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --frobnicate/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  test('a bad flag value exits 2 naming the flag', async () => {
    const r = await runToExit(['--port', 'eighty']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port: .*eighty/);
  });

  test('a seed with a bad GUID is refused at start with the place in the file', async () => {
    const dir = await tempDir();
    const seed = structuredClone(DEMO_SEED) as unknown as { partners: { customers: { id: string }[] }[] };
    seed.partners[0]!.customers[0]!.id = 'not-a-guid';
    const file = join(dir, 'bad-seed.json');
    await writeFile(file, JSON.stringify(seed, null, 2));
    const r = await runToExit(['--port', '0', ...(await storeArgs(join(dir, 'data'))), '--seed', file, ...QUIET]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /partners\[0\]\.customers\[0\]\.id/);
    assert.match(r.stderr, /not-a-guid/);
    assert.doesNotMatch(r.stdout, /PartnerKit listening/);
  });
});

describe('a running server', () => {
  test('on SQLite, a change reaches the database file within moments of its commit, long before the WAL limit', async () => {
    const dataDir = await tempDir();
    const p = await start(['--port', '0', '--data-dir', dataDir, '--demo']);
    const token = await demoAgentToken(p.baseUrl);
    const name = `Checkpointed ${randomUUID().slice(0, 8)}`;
    const patched = await api(p.baseUrl, token, 'PATCH', `${usersPath}/${DEMO.userId}`, { displayName: name });
    assert.equal(patched.status, 200);
    // The database file alone (a copy, without the WAL) holds the change once a checkpoint has copied it: one runs
    // within 100 ms of the commit, on the writer itself while the WAL is this small (store/checkpointer.ts), later on
    // the worker thread. SQLite's automatic one waits for the WAL's restart size (RESTART_FRAMES, 16,384 frames),
    // which the demo data set and one PATCH are far from. (A copy taken while a checkpoint writes may be torn: it is
    // taken again.)
    const copy = join(await tempDir(), 'copy.sqlite');
    let found: unknown;
    for (let waited = 0; waited < 10_000 && found !== name; waited += 100) {
      await sleep(100);
      copyFileSync(join(dataDir, 'partnerkit.sqlite'), copy);
      try {
        const db = new BetterSqlite3(copy);
        try {
          found = (db.prepare('select display_name from users where id = ?').get(DEMO.userId) as { display_name: string } | undefined)?.display_name;
        } finally {
          db.close();
        }
      } catch {
        found = undefined;
      }
    }
    assert.equal(found, name);
    p.proc.kill('SIGTERM');
    assert.equal((await p.exited).code, 0);
  });

  test('--port 0 --demo: listening line, demo banner, /healthz; SIGTERM drains a request in flight and exits 0; a restart keeps the change', async () => {
    const dataDir = await tempDir();
    const p = await start(['--port', '0', ...(await storeArgs(dataDir)), '--demo']);
    assert.match(p.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(p.baseUrl).port, '0');
    const out = await waitForOutput(p, /-d '\{"usageLocation"/);
    assert.ok(out.includes(`PartnerKit listening on ${p.baseUrl}\n`));
    for (const detail of [DEMO.tenantId, DEMO.clientId, DEMO.clientSecret, DEMO.username, DEMO.password, `${p.baseUrl}/${DEMO.tenantId}/oauth2/v2.0/token`]) {
      assert.ok(out.includes(detail), `the banner shows ${detail}`);
    }
    assert.ok(out.includes(`curl -s -X PATCH '${p.baseUrl}${usersPath}/${DEMO.userId}'`), 'the banner has a curl PATCH');

    const health = await fetch(`${p.baseUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    // A PATCH whose headers and half its body are sent before SIGTERM, and the rest after: it is in flight.
    const token = await demoAgentToken(p.baseUrl);
    const body = JSON.stringify({ displayName: 'Drained On SIGTERM' });
    const u = new URL(p.baseUrl);
    let sentAt = 0;
    const inFlight = new Promise<{ status: number; text: string; connection: string | undefined }>((resolve, reject) => {
      const req = httpRequest({
        host: u.hostname, port: u.port, method: 'PATCH', path: `${usersPath}/${DEMO.userId}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'MS-RequestId': randomUUID() },
      }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        sentAt = Date.now();
        p.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 150);
      }, 150);
    });
    const answer = await inFlight;
    assert.equal(answer.status, 200, answer.text);
    assert.equal((JSON.parse(answer.text) as { displayName: string }).displayName, 'Drained On SIGTERM');
    assert.equal(answer.connection, 'close');
    const exit = await p.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    // the idle keep-alive connection of /healthz above did not hold the drain open
    assert.ok(Date.now() - sentAt < 5_000, `exited ${String(Date.now() - sentAt)} ms after SIGTERM`);

    // the same --demo again: the demo is not loaded over the store, the change is kept
    const again = await start(['--port', '0', ...(await storeArgs(dataDir)), '--demo']);
    const t2 = await demoAgentToken(again.baseUrl);
    const user = await api(again.baseUrl, t2, 'GET', `${usersPath}/${DEMO.userId}`);
    assert.equal(user.body.displayName, 'Drained On SIGTERM');
    again.proc.kill('SIGTERM');
    assert.equal((await again.exited).code, 0);
  });

  test(`every acknowledged change survives kill -9, with its audit record, and a restart with the same --seed keeps them (${TEST_ENGINE})`, async () => {
    const dir = await tempDir();
    const dataDir = join(dir, 'data');
    const seedFile = join(dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify(DEMO_SEED));
    const args = ['--port', '0', ...(await storeArgs(dataDir)), '--seed', seedFile];
    const p = await start(args);
    const token = await demoAgentToken(p.baseUrl);

    /** Acknowledged results: user id → the last displayName a 2xx confirmed; and every (user, displayName) confirmed. */
    const lastAcked = new Map<string, string>();
    const ackedPatches: { userId: string; displayName: string }[] = [];
    const ackedCreates: { id: string; upn: string }[] = [];

    const create = async (name: string): Promise<string> => {
      const upn = `${name.replace(/\W+/g, '.')}.${randomUUID().slice(0, 6)}@fabrikam.example`.toLowerCase();
      const r = await api(p.baseUrl, token, 'POST', usersPath, { userPrincipalName: upn, displayName: name, passwordProfile: { password: 'Correct-Horse-42!' } });
      if (r.status !== 201) throw new Error(`POST ${upn}: ${String(r.status)} ${JSON.stringify(r.body)}`);
      const id = r.body.id as string;
      ackedCreates.push({ id, upn });
      lastAcked.set(id, name);
      return id;
    };
    const patch = async (userId: string, displayName: string): Promise<void> => {
      const r = await api(p.baseUrl, token, 'PATCH', `${usersPath}/${userId}`, { displayName });
      if (r.status !== 200) throw new Error(`PATCH ${userId} ${displayName}: ${String(r.status)} ${JSON.stringify(r.body)}`);
      ackedPatches.push({ userId, displayName });
      lastAcked.set(userId, displayName);
    };

    // Ten workers, each on its own users: 3 creates then 20 PATCHes (distinct values), in order within a worker.
    const seeded = [F.users.noah, F.users.ethan];
    await Promise.all(Array.from({ length: 10 }, async (_, w) => {
      const mine: string[] = [];
      for (let k = 0; k < 3; k++) {
        mine.push(await create(`Durable W${String(w)} U${String(k)}`));
      }
      if (w < seeded.length) mine.push(seeded[w]!);
      for (let j = 0; j < 20; j++) await patch(mine[j % mine.length]!, `W${String(w)} Change ${String(j)}`);
    }));
    assert.equal(ackedPatches.length, 200);
    assert.equal(ackedCreates.length, 30);

    // More requests, then kill -9 while they are in flight: the ones answered 2xx before the kill must survive.
    const spare = [F.users.ordinary, F.users.tomas, F.users.aiko, F.users.liam, F.users.fatima, F.users.grace];
    let answered = 0;
    const inFlight = [
      ...spare.map((id, i) => patch(id, `In Flight ${String(i)}`).then(() => answered++)),
      ...Array.from({ length: 20 }, (_, i) => create(`In Flight New ${String(i)}`).then(() => answered++)),
    ].map((x) => x.catch(() => undefined));
    while (answered < 3) await new Promise((r) => setTimeout(r, 2));
    p.proc.kill('SIGKILL');
    await Promise.all(inFlight);
    assert.equal((await p.exited).signal, 'SIGKILL');
    assert.ok(ackedPatches.length + ackedCreates.length < 200 + 30 + spare.length + 20, 'some requests were still in flight at the kill');

    const q = await start(args);
    try {
      const t2 = await demoAgentToken(q.baseUrl);
      for (const [id, displayName] of lastAcked) {
        const u = await api(q.baseUrl, t2, 'GET', `${usersPath}/${id}`);
        assert.equal(u.status, 200, `user ${id} exists after the restart`);
        assert.equal(u.body.displayName, displayName, `user ${id} keeps its last acknowledged change`);
      }
      for (const c of ackedCreates) {
        const u = await api(q.baseUrl, t2, 'GET', `${usersPath}/${c.id}`);
        assert.equal(u.body.userPrincipalName, c.upn);
      }
      const audit = await allAudit(q.baseUrl, t2);
      const created = new Set(audit.filter((a) => a.operationType === 'create_customer_user').map(auditUser));
      for (const c of ackedCreates) assert.ok(created.has(c.id), `an audit record of the creation of ${c.upn}`);
      const updated = new Set(
        audit
          .filter((a) => a.operationType === 'update_customer_user')
          // audit values are serialised the way Partner Center's are, in PascalCase
          .map((a) => `${auditUser(a) ?? ''} ${(JSON.parse(a.resourceNewValue ?? '{}') as { DisplayName?: string }).DisplayName ?? ''}`),
      );
      for (const c of ackedPatches) assert.ok(updated.has(`${c.userId} ${c.displayName}`), `an audit record of ${c.userId} → ${c.displayName}`);
    } finally {
      q.proc.kill('SIGTERM');
      assert.equal((await q.exited).code, 0);
    }
  });
});
