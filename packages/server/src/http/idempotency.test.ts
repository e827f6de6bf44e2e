/**
 * MS-RequestId replay (contract section 1): POST, PATCH and DELETE with a repeated (partner, MS-RequestId) and the
 * same request replay the stored answer without running again, for 24 h, across restarts; a different request
 * with the same id is refused with 409 800004; concurrent repeats wait for the first; GET is never replayed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_IDS, demoAuditRecords, openTestStore, startTestService, type CallResult, type TestService, withSuiteService } from '../testing/harness.js';
import type { IdempotencyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { IdempotencyGuard, REPLAY_WINDOW_MS, STALE_CLAIM_MS, fingerprint, type IdempotencyStore } from './idempotency.js';

const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
const userPath = (id: string): string => `${usersPath}/${id}`;

interface WireUser {
  id: string;
  displayName: string;
  userPrincipalName: string;
  state: string;
}

/** The audit records of one customer user (by the CustomerUserId of their customized data). */
async function auditOf(store: Store, userId: string): Promise<{ operationType: string; newValue: string | null }[]> {
  const rows = await demoAuditRecords(store);
  return rows
    .map((r) => r.record)
    .filter((r) => r.customizedData.some((d) => d.key === 'CustomerUserId' && d.value === userId))
    .map((r) => ({ operationType: r.operationType, newValue: r.newValue }));
}

/** The same answer: status, body and the headers a replay keeps. */
function assertSameAnswer(a: CallResult, b: CallResult): void {
  assert.equal(b.status, a.status);
  assert.equal(b.text, a.text);
  assert.equal(b.headers.get('content-type'), a.headers.get('content-type'));
}

const newUserBody = (name: string): Record<string, unknown> => ({
  userPrincipalName: `${name.toLowerCase()}.${randomUUID().slice(0, 8)}@fabrikam.example`,
  displayName: name,
  firstName: name,
  usageLocation: 'US',
  passwordProfile: { password: 'Correct-Horse-42!', forceChangePassword: false },
});

describe('replay on a running service', () => {
  let s: TestService;
  let token: string;

  withSuiteService((started, t) => {
    s = started;
    token = t;
  });

  const call = (method: string, path: string, requestId: string | undefined, body?: unknown, extra: Record<string, string> = {}): Promise<CallResult> =>
    s.call(method, path, { token, headers: { ...(requestId === undefined ? {} : { 'MS-RequestId': requestId }), ...extra }, ...(body === undefined ? {} : { body }) });

  async function newUser(name: string): Promise<WireUser> {
    const r = await call('POST', usersPath, randomUUID(), newUserBody(name));
    assert.equal(r.status, 201, r.text);
    return r.json as WireUser;
  }

  test('a repeated PATCH replays the same answer and applies the change once', async () => {
    const user = await newUser('Replay');
    const id = randomUUID();
    const first = await call('PATCH', userPath(user.id), id, { displayName: 'Replay One' });
    assert.equal(first.status, 200, first.text);
    assert.equal((first.json as WireUser).displayName, 'Replay One');
    const before = await auditOf(s.store, user.id);

    // a different change in between, with its own id
    const other = await call('PATCH', userPath(user.id), randomUUID(), { displayName: 'Replay Two' });
    assert.equal(other.status, 200, other.text);

    const correlationId = randomUUID();
    const again = await call('PATCH', userPath(user.id), id, { displayName: 'Replay One' }, { 'MS-CorrelationId': correlationId });
    assertSameAnswer(first, again);
    // the replay is a fresh answer to this request: its own correlation id, the same request id
    assert.equal(again.headers.get('ms-requestid'), id);
    assert.equal(again.headers.get('ms-correlationid'), correlationId);

    // the replay did not run again: the change in between stands, and no new audit record
    const now = await call('GET', userPath(user.id), undefined);
    assert.equal((now.json as WireUser).displayName, 'Replay Two');
    const records = await auditOf(s.store, user.id);
    assert.equal(records.length, before.length + 1, 'only the change in between was audited');
    assert.deepEqual(records.map((r) => r.operationType), ['create_customer_user', 'update_customer_user', 'update_customer_user']);
  });

  test('the same id with a different body, path or method answers 409 800004 and runs nothing', async () => {
    const user = await newUser('Conflict');
    const otherUser = await newUser('ConflictOther');
    const id = randomUUID();
    const first = await call('PATCH', userPath(user.id), id, { displayName: 'Conflict One' });
    assert.equal(first.status, 200, first.text);
    const auditBefore = (await auditOf(s.store, user.id)).length;

    const attempts: [string, string, unknown][] = [
      ['PATCH', userPath(user.id), { displayName: 'Conflict Two' }],
      ['PATCH', userPath(user.id), { displayName: 'Conflict One', usageLocation: 'FR' }],
      ['PATCH', userPath(otherUser.id), { displayName: 'Conflict One' }],
      ['DELETE', userPath(user.id), undefined],
      ['POST', usersPath, newUserBody('ConflictNew')],
    ];
    for (const [method, path, body] of attempts) {
      const r = await call(method, path, id, body);
      assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
      const fault = r.json as { code: number; source: string; data: unknown[] };
      assert.equal(fault.code, 800004);
      assert.equal(fault.source, 'PartnerFD');
      assert.equal(r.headers.get('ms-requestid'), id);
    }
    assert.equal(((await call('GET', userPath(user.id), undefined)).json as WireUser).displayName, 'Conflict One');
    assert.equal(((await call('GET', userPath(otherUser.id), undefined)).json as WireUser).displayName, 'ConflictOther');
    assert.equal((await auditOf(s.store, user.id)).length, auditBefore);
    // and the original request still replays
    assertSameAnswer(first, await call('PATCH', userPath(user.id), id, { displayName: 'Conflict One' }));
  });

  test('GET is never replayed, and a GET does not take an id away from a later PATCH', async () => {
    const user = await newUser('Getter');
    const id = randomUUID();
    const g1 = await call('GET', userPath(user.id), id);
    assert.equal((g1.json as WireUser).displayName, 'Getter');
    const p = await call('PATCH', userPath(user.id), id, { displayName: 'Getter Changed' });
    assert.equal(p.status, 200, p.text);
    const g2 = await call('GET', userPath(user.id), id);
    assert.equal(g2.status, 200);
    assert.equal((g2.json as WireUser).displayName, 'Getter Changed');
    // a GET with an id a PATCH used: answered fresh, not 409
    const list = await call('GET', usersPath, id);
    assert.equal(list.status, 200, list.text);
  });

  test('a repeated POST replays 201 with the same user id and creates one user', async () => {
    const id = randomUUID();
    const body = newUserBody('Created');
    const first = await call('POST', usersPath, id, body);
    assert.equal(first.status, 201, first.text);
    const created = first.json as WireUser;
    const again = await call('POST', usersPath, id, body);
    assertSameAnswer(first, again);
    assert.equal((again.json as WireUser).id, created.id);
    const records = await auditOf(s.store, created.id);
    assert.deepEqual(records.map((r) => r.operationType), ['create_customer_user']);
    // one user holds that UPN; without replay the second POST would have been 409 60009
    const sameUpn = await call('POST', usersPath, randomUUID(), body);
    assert.equal(sameUpn.status, 409);
    assert.equal((sameUpn.json as { code: number }).code, 60009);
  });

  test('a repeated DELETE replays 204, not 404, and deletes once', async () => {
    const user = await newUser('Deleted');
    const id = randomUUID();
    const first = await call('DELETE', userPath(user.id), id);
    assert.equal(first.status, 204, first.text);
    const again = await call('DELETE', userPath(user.id), id);
    assert.equal(again.status, 204, again.text);
    assert.equal(again.text, '');
    assert.equal(again.headers.get('ms-requestid'), id);
    // a new id sees the user gone
    const fresh = await call('DELETE', userPath(user.id), randomUUID());
    assert.equal(fresh.status, 404);
    const deletes = (await auditOf(s.store, user.id)).filter((r) => r.operationType === 'delete_customer_user');
    assert.equal(deletes.length, 1);
  });

  test('ten identical POSTs at once with one id: one user is created and all ten answers are identical', async () => {
    const id = randomUUID();
    const body = newUserBody('Concurrent');
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('POST', usersPath, id, body)));
    const first = answers[0]!;
    assert.equal(first.status, 201, first.text);
    for (const a of answers) assertSameAnswer(first, a);
    const created = first.json as WireUser;
    assert.equal((await auditOf(s.store, created.id)).length, 1);
    const list = await call('GET', `${usersPath}?size=500`, undefined);
    const holders = (list.json as { items: WireUser[] }).items.filter((u) => u.userPrincipalName === body.userPrincipalName);
    assert.equal(holders.length, 1);
  });

  test('ten identical PATCHes at once with one id: one change, one audit record, identical answers', async () => {
    const user = await newUser('Parallel');
    const id = randomUUID();
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('PATCH', userPath(user.id), id, { displayName: 'Parallel Done', phoneNumber: '+1 425 555 0100' })));
    for (const a of answers) {
      assert.equal(a.status, 200, a.text);
      assertSameAnswer(answers[0]!, a);
    }
    const updates = (await auditOf(s.store, user.id)).filter((r) => r.operationType === 'update_customer_user');
    assert.equal(updates.length, 1);
  });

  test('ten DELETEs at once with one id all answer 204', async () => {
    const user = await newUser('ParallelDelete');
    const id = randomUUID();
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('DELETE', userPath(user.id), id)));
    assert.deepEqual(answers.map((a) => a.status), Array<number>(10).fill(204));
    assert.equal((await auditOf(s.store, user.id)).filter((r) => r.operationType === 'delete_customer_user').length, 1);
  });

  test('a refused request is not stored: the same id and body run again (and can succeed once fixed elsewhere)', async () => {
    const user = await newUser('Refused');
    const id = randomUUID();
    const bad = await call('PATCH', userPath(user.id), id, { usageLocation: 'XX' });
    assert.equal(bad.status, 400);
    const again = await call('PATCH', userPath(user.id), id, { usageLocation: 'XX' });
    assert.equal(again.status, 400);
    assert.equal((again.json as { code: number }).code, 3000);
  });

  test('without MS-RequestId, two identical PATCHes both run', async () => {
    const user = await newUser('NoId');
    const r1 = await call('PATCH', userPath(user.id), undefined, { displayName: 'NoId A' });
    const r2 = await call('PATCH', userPath(user.id), undefined, { displayName: 'NoId B' });
    const r3 = await call('PATCH', userPath(user.id), undefined, { displayName: 'NoId A' });
    assert.deepEqual([r1.status, r2.status, r3.status], [200, 200, 200]);
    assert.notEqual(r1.headers.get('ms-requestid'), r3.headers.get('ms-requestid'));
    assert.equal((await auditOf(s.store, user.id)).filter((r) => r.operationType === 'update_customer_user').length, 3);
  });
});

describe('replay across a restart', () => {
  test('a repeated PATCH, POST and DELETE after a restart on the same data directory are replayed, not run', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'partnerkit-replay-'));
    try {
      const patchId = randomUUID();
      const postId = randomUUID();
      const deleteId = randomUUID();
      const postBody = newUserBody('Restarted');
      let firstPatch: CallResult;
      let firstPost: CallResult;
      let doomed: WireUser;
      const s1 = await startTestService({ dataDir });
      try {
        const token = await s1.userToken();
        firstPatch = await s1.call('PATCH', userPath(F.users.liam), { token, headers: { 'MS-RequestId': patchId }, body: { displayName: 'Liam Before Restart' } });
        assert.equal(firstPatch.status, 200, firstPatch.text);
        const later = await s1.call('PATCH', userPath(F.users.liam), { token, headers: { 'MS-RequestId': randomUUID() }, body: { displayName: 'Liam Later' } });
        assert.equal(later.status, 200);
        firstPost = await s1.call('POST', usersPath, { token, headers: { 'MS-RequestId': postId }, body: postBody });
        assert.equal(firstPost.status, 201, firstPost.text);
        const d = await s1.call('POST', usersPath, { token, body: newUserBody('Doomed') });
        doomed = d.json as WireUser;
        assert.equal((await s1.call('DELETE', userPath(doomed.id), { token, headers: { 'MS-RequestId': deleteId } })).status, 204);
      } finally {
        await s1.close();
      }

      const s2 = await startTestService({ dataDir });
      try {
        const token = await s2.userToken();
        const liamAudit = (await auditOf(s2.store, F.users.liam)).length;
        const replayed = await s2.call('PATCH', userPath(F.users.liam), { token, headers: { 'MS-RequestId': patchId }, body: { displayName: 'Liam Before Restart' } });
        assertSameAnswer(firstPatch, replayed);
        const now = await s2.call('GET', userPath(F.users.liam), { token });
        assert.equal((now.json as WireUser).displayName, 'Liam Later');
        assert.equal((await auditOf(s2.store, F.users.liam)).length, liamAudit);

        const post = await s2.call('POST', usersPath, { token, headers: { 'MS-RequestId': postId }, body: postBody });
        assertSameAnswer(firstPost, post);
        assert.equal((await auditOf(s2.store, (firstPost.json as WireUser).id)).length, 1);

        const del = await s2.call('DELETE', userPath(doomed.id), { token, headers: { 'MS-RequestId': deleteId } });
        assert.equal(del.status, 204);

        const conflict = await s2.call('PATCH', userPath(F.users.liam), { token, headers: { 'MS-RequestId': patchId }, body: { displayName: 'Something Else' } });
        assert.equal(conflict.status, 409);
      } finally {
        await s2.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the 24-hour window', () => {
  test('an id is replayed for 24 h, refused for a different request until then, and usable again after', async () => {
    let clock = Date.now();
    const s = await startTestService({ now: () => clock });
    try {
      let token = await s.userToken();
      const id = randomUUID();
      const path = userPath(F.users.fatima);
      const first = await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day One' } });
      assert.equal(first.status, 200, first.text);

      clock += REPLAY_WINDOW_MS - 60_000;
      token = await s.userToken();
      assertSameAnswer(first, await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day One' } }));
      assert.equal((await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day Two' } })).status, 409);

      clock += 2 * 60_000;
      token = await s.userToken();
      const reused = await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day Two' } });
      assert.equal(reused.status, 200, reused.text);
      assert.equal((reused.json as WireUser).displayName, 'Fatima Day Two');
      // and it now replays the new request
      assertSameAnswer(reused, await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day Two' } }));
      const updates = (await auditOf(s.store, F.users.fatima)).filter((r) => r.operationType === 'update_customer_user');
      assert.equal(updates.length, 2);

      // the same request after the window runs again (a new change here, so a new audit record)
      clock += REPLAY_WINDOW_MS + 1;
      token = await s.userToken();
      await s.call('PATCH', path, { token, body: { displayName: 'Fatima Meanwhile' } });
      const rerun = await s.call('PATCH', path, { token, headers: { 'MS-RequestId': id }, body: { displayName: 'Fatima Day Two' } });
      assert.equal(rerun.status, 200);
      assert.equal((await auditOf(s.store, F.users.fatima)).filter((r) => r.operationType === 'update_customer_user').length, 4);
    } finally {
      await s.close();
    }
  });
});

describe('IdempotencyGuard', () => {
  /**
   * A store on the test engine whose reads take a while, as a networked database's would. `keyed`: on SQLite, replay
   * records found through SQLite's index on their key (as past `MAX_REPLAY_KEYS`), which the claims in the store of
   * a store several processes share need.
   */
  async function slowStore(keyed = false): Promise<{ store: Store; guardStore: IdempotencyStore; close: () => Promise<void> }> {
    const store = await openTestStore(undefined, keyed ? { maxReplayKeys: 0 } : {});
    const guardStore: IdempotencyStore = {
      sharedByProcesses: store.sharedByProcesses,
      claimIdempotency: (c) => store.claimIdempotency(c),
      takeOverIdempotency: (seen, c) => store.takeOverIdempotency(seen, c),
      releaseIdempotency: (p, r, c) => store.releaseIdempotency(p, r, c),
      purgeIdempotency: (before) => store.purgeIdempotency(before),
      async getIdempotency(partnerId: string, requestId: string): Promise<IdempotencyRecord | undefined> {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return store.getIdempotency(partnerId, requestId);
      },
    };
    return { store, guardStore, close: () => store.close() };
  }

  test('concurrent repeats of one id: one runs, the others wait for it and replay its answer', async () => {
    const { store, guardStore, close } = await slowStore();
    try {
      const guard = new IdempotencyGuard(guardStore);
      const print = fingerprint('POST', '/v1/x', { a: 1 });
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const o = await guard.begin('p', 'r1', print);
          if ('ticket' in o) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            await store.transaction((tx) => guard.record(tx, o.ticket, 201, { 'content-type': 'application/json; charset=utf-8' }, '{"id":"u1"}'));
            await o.ticket.release(true);
            return 'ran';
          }
          return `replayed ${String(o.replay.status)} ${o.replay.body}`;
        }),
      );
      assert.equal(outcomes.filter((o) => o === 'ran').length, 1, outcomes.join(', '));
      assert.equal(outcomes.filter((o) => o === 'replayed 201 {"id":"u1"}').length, 4);
    } finally {
      await close();
    }
  });

  test('requests with other ids do not wait for one under way, and a repeat waits only until it ends', async () => {
    const { store, guardStore, close } = await slowStore();
    try {
      const guard = new IdempotencyGuard({ ...guardStore, sharedByProcesses: false });
      const print = fingerprint('PATCH', '/v1/u/1', { displayName: 'a' });
      const first = await guard.begin('p', 'held', print);
      assert.ok('ticket' in first);
      const others = await Promise.all(['o1', 'o2', 'o3'].map((id) => guard.begin('p', id, print)));
      for (const o of others) {
        assert.ok('ticket' in o);
        await o.ticket.release();
      }
      let repeatDone = false;
      const repeat = guard.begin('p', 'held', print).then((o) => {
        repeatDone = true;
        return o;
      });
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(repeatDone, false, 'the repeat waits while the first is under way');
      await first.ticket.release(); // failed: nothing recorded, so the repeat runs
      const again = await repeat;
      assert.ok('ticket' in again);
      await again.ticket.release();
      assert.equal(await store.getIdempotency('p', 'held'), undefined);
    } finally {
      await close();
    }
  });

  test('a repeat that finds a different request answers 409, and a failed first run lets the next one run', async () => {
    const { store, guardStore, close } = await slowStore();
    try {
      const guard = new IdempotencyGuard(guardStore);
      const a = fingerprint('PATCH', '/v1/u/1', { displayName: 'a' });
      const b = fingerprint('PATCH', '/v1/u/1', { displayName: 'b' });
      const first = await guard.begin('p', 'r', a);
      assert.ok('ticket' in first);
      void first.ticket.release(); // failed: nothing recorded
      const second = await guard.begin('p', 'r', a);
      assert.ok('ticket' in second);
      await store.transaction((tx) => guard.record(tx, second.ticket, 200, {}, '{}'));
      await second.ticket.release(true);
      await assert.rejects(guard.begin('p', 'r', b), (err: unknown) => err instanceof Error && 'kind' in err && err.kind === 'requestIdReused');
      // ids are per partner
      const other = await guard.begin('q', 'r', b);
      assert.ok('ticket' in other);
      await other.ticket.release();
    } finally {
      await close();
    }
  });

  test('on a store one process owns: no pending record; the answer is written by the transaction, replacing an expired one', async () => {
    const { store, guardStore, close } = await slowStore();
    try {
      let clock = Date.now();
      const own: IdempotencyStore = { ...guardStore, sharedByProcesses: false };
      const guard = new IdempotencyGuard(own, () => clock);
      const print = fingerprint('PATCH', '/v1/u/9', { displayName: 'y' });
      const first = await guard.begin('p', 'r9', print);
      assert.ok('ticket' in first);
      assert.equal(await store.getIdempotency('p', 'r9'), undefined, 'nothing is written before the operation');
      await store.transaction((tx) => guard.record(tx, first.ticket, 200, {}, '{"n":1}'));
      await first.ticket.release(true);
      const repeat = await guard.begin('p', 'r9', print);
      assert.ok('replay' in repeat);
      assert.equal(repeat.replay.body, '{"n":1}');
      await assert.rejects(guard.begin('p', 'r9', fingerprint('DELETE', '/v1/u/9', undefined)), (err: unknown) => err instanceof Error && 'kind' in err && err.kind === 'requestIdReused');
      // a failed run leaves nothing behind
      const failed = await guard.begin('p', 'r10', print);
      assert.ok('ticket' in failed);
      await failed.ticket.release(false);
      assert.equal(await store.getIdempotency('p', 'r10'), undefined);
      // after the window, the id runs again and its new answer replaces the old one
      clock += REPLAY_WINDOW_MS + 1;
      const again = await guard.begin('p', 'r9', fingerprint('DELETE', '/v1/u/9', undefined));
      assert.ok('ticket' in again);
      await store.transaction((tx) => guard.record(tx, again.ticket, 204, {}, ''));
      await again.ticket.release(true);
      assert.equal((await store.getIdempotency('p', 'r9'))?.status, 204);
    } finally {
      await close();
    }
  });

  test('across instances (two guards on one store): a repeat waits for the pending first run, then replays; a stale claim is taken over', async () => {
    const { store, guardStore, close } = await slowStore(true);
    try {
      let clock = Date.now();
      // Claims in the store, as on a store several processes share, whatever the test engine.
      const shared: IdempotencyStore = { ...guardStore, sharedByProcesses: true };
      const a = new IdempotencyGuard(shared, () => clock);
      const b = new IdempotencyGuard(shared, () => clock);
      const print = fingerprint('PATCH', '/v1/u/2', { displayName: 'x' });
      const first = await a.begin('p', 'r2', print);
      assert.ok('ticket' in first);
      const waiting = b.begin('p', 'r2', print);
      await new Promise((resolve) => setTimeout(resolve, 60));
      await store.transaction((tx) => a.record(tx, first.ticket, 200, {}, '{"done":true}'));
      await first.ticket.release(true);
      const repeat = await waiting;
      assert.ok('replay' in repeat);
      assert.equal(repeat.replay.body, '{"done":true}');
      // a different request under the id another instance is still running: 409 at once
      const running = await a.begin('p', 'r3', print);
      assert.ok('ticket' in running);
      await assert.rejects(b.begin('p', 'r3', fingerprint('DELETE', '/v1/u/2', undefined)), (err: unknown) => err instanceof Error && 'kind' in err && err.kind === 'requestIdReused');
      // the instance running it died (its claim is never released): once stale, another instance takes over
      clock += STALE_CLAIM_MS + 1;
      const takeover = await b.begin('p', 'r3', print);
      assert.ok('ticket' in takeover);
      // the dead instance's late answer cannot land any more
      await assert.rejects(store.transaction((tx) => a.record(tx, running.ticket, 200, {}, '{}')), (err: unknown) => err instanceof Error && 'kind' in err && err.kind === 'unavailable');
      await takeover.ticket.release();
      assert.equal(await store.getIdempotency('p', 'r3'), undefined);
    } finally {
      await close();
    }
  });

  test('the fingerprint tells method, path and body apart', () => {
    const base = fingerprint('PATCH', '/v1/customers/c/users/u', { displayName: 'x' });
    assert.equal(base, fingerprint('PATCH', '/v1/customers/c/users/u', { displayName: 'x' }));
    assert.notEqual(base, fingerprint('DELETE', '/v1/customers/c/users/u', { displayName: 'x' }));
    assert.notEqual(base, fingerprint('PATCH', '/v1/customers/c/users/v', { displayName: 'x' }));
    assert.notEqual(base, fingerprint('PATCH', '/v1/customers/c/users/u', { displayName: 'y' }));
    assert.notEqual(fingerprint('DELETE', '/v1/a', undefined), fingerprint('DELETE', '/v1/a', {}));
  });
});
