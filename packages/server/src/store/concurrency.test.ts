/**
 * Concurrent changes on one store, on the test engine (SQLite runs its transactions one at a time; PostgreSQL
 * runs them at once, with row locks and unique indexes deciding): every request is answered as if the requests
 * had run one after the other, never with a 500. Also the store's reading of driver errors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DEMO_IDS, demoAuditRecords, type CallResult, type TestService, withSuiteService } from '../testing/harness.js';
import { isStoreUnavailable, isUniqueViolation } from './errors.js';

const F = DEMO_IDS.fabrikam;
const usersPath = `/v1/customers/${F.customerId}/users`;
const userPath = (id: string): string => `${usersPath}/${id}`;

describe('concurrent changes', () => {
  let s: TestService;
  let token: string;

  withSuiteService((started, t) => {
    s = started;
    token = t;
  });

  const call = (method: string, path: string, body?: unknown): Promise<CallResult> =>
    s.call(method, path, { token, headers: { 'MS-RequestId': randomUUID() }, ...(body === undefined ? {} : { body }) });

  const countAudit = async (userId: string, operationType: string): Promise<number> => {
    const rows = await demoAuditRecords(s.store);
    return rows.filter((r) => r.record.operationType === operationType && r.record.customizedData.some((d) => d.value === userId)).length;
  };

  test('creates of one UPN at once: one 201, every other 409 60009, one user and one audit record', async () => {
    const upn = `race.${randomUUID().slice(0, 8)}@fabrikam.example`;
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      call('POST', usersPath, { userPrincipalName: upn, displayName: `Race ${String(i)}`, passwordProfile: { password: 'Correct-Horse-42!' } })));
    const created = answers.filter((a) => a.status === 201);
    assert.equal(created.length, 1, answers.map((a) => `${String(a.status)} ${a.text}`).join('\n'));
    for (const a of answers.filter((x) => x.status !== 201)) {
      assert.equal(a.status, 409, a.text);
      assert.equal((a.json as { code: number }).code, 60009);
    }
    const id = (created[0]?.json as { id: string }).id;
    assert.equal((await s.store.findUserByUpn(F.customerId, upn))?.id, id);
    assert.equal(await countAudit(id, 'create_customer_user'), 1);
  });

  test('renames of several users onto one UPN at once: one wins, the others answer 409 60009 and keep their UPN', async () => {
    const target = `taken.${randomUUID().slice(0, 8)}@fabrikam.example`;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call('POST', usersPath, { userPrincipalName: `renamer${String(i)}.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: `Renamer ${String(i)}`, passwordProfile: { password: 'Correct-Horse-42!' } });
      assert.equal(r.status, 201, r.text);
      ids.push((r.json as { id: string }).id);
    }
    const answers = await Promise.all(ids.map((id) => call('PATCH', userPath(id), { userPrincipalName: target })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, answers.map((a) => `${String(a.status)} ${a.text}`).join('\n'));
    for (const a of answers.filter((x) => x.status !== 200)) {
      assert.equal(a.status, 409, a.text);
      assert.equal((a.json as { code: number }).code, 60009);
    }
    const holders = await Promise.all(ids.map((id) => s.store.getUser(F.customerId, id)));
    assert.equal(holders.filter((u) => u?.upn === target).length, 1);
  });

  test('a delete and PATCHes of one user at once: each is answered as if they ran one after the other', async () => {
    const r = await call('POST', usersPath, { userPrincipalName: `doomed.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Doomed', passwordProfile: { password: 'Correct-Horse-42!' } });
    const id = (r.json as { id: string }).id;
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => call('PATCH', userPath(id), { displayName: `Doomed ${String(i)}` })),
      call('DELETE', userPath(id)),
      ...Array.from({ length: 6 }, (_, i) => call('PATCH', userPath(id), { displayName: `Doomed Late ${String(i)}` })),
    ]);
    const del = answers[6];
    assert.equal(del?.status, 204, del?.text);
    const patched = answers.filter((a, i) => i !== 6 && a.status === 200).length;
    for (const [i, a] of answers.entries()) if (i !== 6) assert.ok(a.status === 200 || a.status === 404, `${String(a.status)} ${a.text}`);
    // every PATCH that succeeded ran before the delete and was audited; the delete saw the last of them
    assert.equal(await countAudit(id, 'update_customer_user'), patched);
    assert.equal(await countAudit(id, 'delete_customer_user'), 1);
    const user = await s.store.getUser(F.customerId, id);
    assert.equal(user?.state, 'inactive');
  });

  test('PATCHes of one user at once: each change stays and is in its own answer (and its replay), bad ones fail alone, and the audit records chain', async () => {
    const r = await call('POST', usersPath, { userPrincipalName: `busy.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Busy', passwordProfile: { password: 'Correct-Horse-42!' } });
    assert.equal(r.status, 201, r.text);
    const id = (r.json as { id: string }).id;
    const taken = await s.store.getUser(F.customerId, F.users.tomas);
    assert.ok(taken);
    const good = [
      { displayName: 'Busy Bee' }, { firstName: 'Busy' }, { lastName: 'Bee' }, { usageLocation: 'NO' }, { phoneNumber: '+47 22 00 00 00' },
      { displayName: 'Busy Bee Again' },
    ];
    // Sent together, so that the server reads them in the same turns and their steps interleave (http/pipeline.ts).
    const requestIds = good.map(() => randomUUID());
    const patch = (body: Record<string, string>, i: number): Promise<CallResult> =>
      s.call('PATCH', userPath(id), { token, headers: { 'MS-RequestId': requestIds[i] ?? '' }, body });
    const answers = await Promise.all([
      ...good.map(patch),
      call('PATCH', userPath(id), { usageLocation: 'not a country' }),
      call('PATCH', userPath(id), { userPrincipalName: taken.upn }),
    ]);
    for (const [i, a] of answers.slice(0, good.length).entries()) {
      assert.equal(a.status, 200, a.text);
      // Each answer is the user after its own change, not another request's.
      const sent = good[i] ?? {};
      const [[field, value]] = Object.entries(sent) as [[string, string]];
      assert.equal((a.json as Record<string, unknown>)[field], value, `answer ${String(i)}: ${a.text}`);
      // And a repeat of its MS-RequestId replays that same answer.
      const again = await patch(sent, i);
      assert.deepEqual([again.status, again.text], [200, a.text]);
    }
    assert.equal(answers[good.length]?.status, 400, answers[good.length]?.text);
    assert.equal(answers[good.length + 1]?.status, 409, answers[good.length + 1]?.text);
    const user = await s.store.getUser(F.customerId, id);
    assert.equal(user?.firstName, 'Busy');
    assert.equal(user.lastName, 'Bee');
    assert.equal(user.usageLocation, 'NO');
    assert.equal(user.phoneNumber, '+47 22 00 00 00');
    assert.ok(user.displayName === 'Busy Bee' || user.displayName === 'Busy Bee Again');
    // Each change started from the one before: every record's old value is the previous record's new value.
    const rows = (await demoAuditRecords(s.store))
      .filter((x) => x.record.customizedData.some((d) => d.value === id) && x.record.operationType === 'update_customer_user')
      .sort((x, y) => x.seq - y.seq);
    assert.equal(rows.length, good.length);
    rows.slice(1).forEach((x, i) => assert.equal(x.record.oldValue, rows[i]?.record.newValue));
  });
});

describe('driver errors', () => {
  test('connection-level errors count as the store being unreachable; others do not', () => {
    const coded = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });
    for (const e of [
      coded('ECONNREFUSED'), coded('ECONNRESET'), coded('ETIMEDOUT'), coded('EPIPE'), coded('57P01', 'terminating connection due to administrator command'),
      coded('57P03', 'the database system is starting up'), coded('08006'), coded('08001'), new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'), new Error('Client has encountered a connection error and is not queryable'),
      new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], 'connect'), new Error('wrapped', { cause: coded('ECONNRESET') }),
      // SQLite: locked past busy_timeout (store/errors.ts; a full disk, read-only, I/O errors: store/faults.test.ts)
      coded('SQLITE_BUSY'),
    ]) assert.equal(isStoreUnavailable(e), true, `${e.message} ${String((e as { code?: string }).code)}`);
    for (const e of [
      coded('23505'), coded('42P01', 'relation does not exist'), coded('SQLITE_CONSTRAINT_FOREIGNKEY'), new TypeError('The database connection is not open'),
      new Error('Cannot use a pool after calling end on the pool'), new SyntaxError('Unexpected token'), undefined, 'ECONNREFUSED',
    ]) assert.equal(isStoreUnavailable(e), false, String(e));
  });

  test('unique violations of both engines are recognised', () => {
    assert.equal(isUniqueViolation(Object.assign(new Error('duplicate key'), { code: '23505' })), true);
    assert.equal(isUniqueViolation(Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })), true);
    assert.equal(isUniqueViolation(Object.assign(new Error('FOREIGN KEY constraint failed'), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })), false);
    assert.equal(isUniqueViolation(new Error('x')), false);
  });
});
