/**
 * `Store.changeTogether` on the test engine: concurrent changes of one user give the answers they would give one
 * after another, whether they share a transaction (PostgreSQL) or not (SQLite). On PostgreSQL they also take the
 * user's row lock once (watched through the store's query log).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PartnerKitError } from '../errors.js';
import { loadSeed } from '../seed/load.js';
import { DEMO, DEMO_IDS, DEMO_SEED } from '../seed/demo.js';
import { auditRow } from '../audit/records.js';
import { demoAgentActor, demoAuditRecords, openTestStore, TEST_ENGINE } from '../testing/harness.js';
import type { CustomerRecord, UserRecord } from './records.js';
import { FIXED_POSTGRES_SQL, type Store, type StoreTx } from './store.js';

const F = DEMO_IDS.fabrikam;
const KEY = `${F.customerId}\n${F.users.ordinary}`;

describe(`changes of one user together (${TEST_ENGINE})`, () => {
  let store: Store;
  /** PostgreSQL: the statements the store sent, from Kysely's log. */
  const sent: string[] = [];
  let fabrikam: CustomerRecord;
  let original: UserRecord;

  before(async () => {
    store = await openTestStore(TEST_ENGINE, { onQuery: (q) => sent.push(q) });
    await loadSeed(store, DEMO_SEED);
    const c = await store.getCustomer(F.customerId);
    const u = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(c && u);
    fabrikam = c;
    original = u;
  });
  after(async () => {
    await store.close();
  });
  beforeEach(async () => {
    await store.transaction((tx) => tx.updateUser(original));
  });

  const auditCount = async (marker: string): Promise<number> =>
    (await demoAuditRecords(store))
      .filter((r) => r.record.correlationId === marker).length;

  /**
   * A change as the user service makes one: reads the user (`userId`, else the ordinary one) under its lock, then
   * writes it (as `edit` leaves it) and an audit record marked `marker`. `fail`, if given, is thrown after the writes
   * are made; `afterRead` runs between the read and the writes; `runs` counts the runs.
   */
  const change = (
    marker: string,
    edit: (u: UserRecord) => UserRecord,
    opts: { fail?: () => Error; runs?: { n: number }; userId?: string; afterRead?: (run: number) => Promise<void> } = {},
  ) =>
    async (tx: StoreTx): Promise<UserRecord> => {
      const run = opts.runs ? ++opts.runs.n : 1;
      const before = await tx.getUserForUpdate(F.customerId, opts.userId ?? F.users.ordinary);
      assert.ok(before);
      await opts.afterRead?.(run);
      const after = edit(before);
      const fail = opts.fail;
      await tx.combineWrites(async () => {
        await tx.updateUser(after, before);
        await tx.insertAudit(auditRow(demoAgentActor(marker), fabrikam, {
          operationType: 'update_customer_user', resourceType: 'customer_user', resourceId: before.id, oldValue: null, newValue: null, customizedData: [],
        }, Date.now()));
        if (fail) throw fail();
      });
      return after;
    };
  const stored = async (): Promise<UserRecord | undefined> => {
    let u: UserRecord | undefined;
    await store.transaction(async (tx) => {
      u = await tx.getUser(F.customerId, F.users.ordinary);
    });
    return u;
  };
  const locksTaken = (qs: readonly string[]): number => qs.filter((q) => /for update$/i.test(q)).length;
  /** Reads of the user by the changes: under the lock, or with its row version (no lock, see `OptimisticTx`). */
  const userReads = (qs: readonly string[]): number => qs.filter((q) => /for update$|row_version/i.test(q)).length;
  const begins = (qs: readonly string[]): number => qs.filter((q) => /^begin$/i.test(q)).length;

  test('changes that arrive together run in turn, each on the result of the one before, and all commit', async () => {
    const marker = randomUUID();
    const from = sent.length;
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((c) =>
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, displayName: `${u.displayName}${c}` })))));
    const theirs = sent.slice(from);
    const names = results.map((u) => u.displayName).sort((x, y) => x.length - y.length);
    // Each saw all the changes before it: the names grow by one letter each.
    names.forEach((n, i) => assert.equal(n.length, original.displayName.length + i + 1));
    assert.equal((await stored())?.displayName, names[names.length - 1]);
    assert.equal(await auditCount(marker), 6);
    if (TEST_ENGINE === 'postgres') {
      assert.equal(userReads(theirs), 1, 'one read of the user for all six');
      assert.equal(locksTaken(theirs), 0, 'no other change of the user was under way: no lock, no transaction');
      assert.equal(begins(theirs), 0);
    }
  });

  test('the writes of changes joined together leave as one statement of one shape, whatever their number (arrays, planned each time, on PostgreSQL); a lone change has no arrays and is prepared', async () => {
    const joined = async (n: number): Promise<string[]> => {
      const marker = randomUUID();
      const from = sent.length;
      await Promise.all(Array.from({ length: n }, (_, i) =>
        store.changeTogether(KEY, change(marker, (u) => ({ ...u, displayName: `${u.displayName}${String(i)}` })))));
      assert.equal(await auditCount(marker), n);
      return sent.slice(from).filter((q) => /^with\b/i.test(q));
    };
    const one = await joined(1);
    const three = await joined(3);
    const five = await joined(5);
    if (TEST_ENGINE === 'postgres') {
      assert.equal(three.length, 1, three.join('\n'));
      assert.deepEqual(five, three, 'the same text for three changes and for five');
      assert.match(three[0] ?? '', /\bunnest\(/);
      assert.ok(!FIXED_POSTGRES_SQL.has(three[0] ?? ''), 'not prepared: PostgreSQL plans it for its arrays each time');
      assert.equal(one.length, 1, one.join('\n'));
      assert.doesNotMatch(one[0] ?? '', /\bunnest\(/, 'a lone change writes each row in a clause of its own');
      assert.ok(FIXED_POSTGRES_SQL.has(one[0] ?? ''), "a lone change's statement is prepared (its shapes are few)");
    }
  });

  if (TEST_ENGINE === 'postgres') {
    test('a change whose user another transaction wrote between its read and its write runs again under the lock: no change is lost, nothing of its first attempt stays', async () => {
      const marker = randomUUID();
      const runs = { n: 0 };
      const from = sent.length;
      const result = await store.changeTogether(KEY, change(marker, (u) => ({ ...u, displayName: `${u.displayName} later` }), {
        runs,
        afterRead: async (run) => {
          if (run > 1) return;
          // Another instance, say, changes the user after this change read it (without the lock).
          await store.transaction(async (t) => {
            const u = await t.getUserForUpdate(F.customerId, F.users.ordinary);
            assert.ok(u);
            await t.updateUser({ ...u, displayName: 'Meanwhile' }, u);
          });
        },
      }));
      assert.equal(runs.n, 2, 'the first attempt, without the lock, found the user changed');
      assert.equal(result.displayName, 'Meanwhile later');
      assert.equal((await stored())?.displayName, 'Meanwhile later');
      assert.equal(await auditCount(marker), 1);
      const theirs = sent.slice(from);
      assert.equal(theirs.filter((q) => /row_version/.test(q)).length, 1, 'read once without the lock');
    });

    test('changes of more users at once than the pool has connections all complete: none holds a connection while it waits for its read', async () => {
      const users = Array.from({ length: 20 }, (_, i) => ({ ...original, id: randomUUID(), upn: `pool${String(i)}.${randomUUID().slice(0, 8)}@${original.upn.split('@')[1] ?? ''}` }));
      await store.transaction(async (tx) => {
        for (const u of users) assert.equal(await tx.insertUser(u), true);
      });
      const marker = randomUUID();
      const all = Promise.all(users.map((u) =>
        store.changeTogether(`${F.customerId}\n${u.id}`, change(marker, (b) => ({ ...b, displayName: `${b.displayName} changed` }), { userId: u.id }))));
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new Error('the changes did not complete within 10 s')); }, 10_000);
      });
      try {
        const results = await Promise.race([all, stuck]);
        assert.equal(results.length, 20);
      } finally {
        clearTimeout(timer);
      }
      assert.equal(await auditCount(marker), 20);
    });

    // Replay claims in the database are a store's that several processes share (on SQLite they are kept in memory).
    test('a change whose replay claim was lost fails, and nothing of it stays: not the user, not its audit record', async () => {
      const marker = randomUUID();
      const requestId = randomUUID();
      assert.equal(await store.claimIdempotency({ partnerId: DEMO.tenantId, requestId, fingerprint: 'f', claimId: randomUUID(), createdAt: Date.now() }), true);
      const lostClaim = (): Error => new PartnerKitError('unavailable', 'claim lost');
      const outcome = await Promise.allSettled([store.changeTogether(KEY, async (tx) => {
        const before = await tx.getUserForUpdate(F.customerId, F.users.ordinary);
        assert.ok(before);
        await tx.combineWrites(async () => {
          await tx.updateUser({ ...before, displayName: 'Never Stored' }, before);
          await tx.insertAudit(auditRow(demoAgentActor(marker), fabrikam, {
            operationType: 'update_customer_user', resourceType: 'customer_user', resourceId: before.id, oldValue: null, newValue: null, customizedData: [],
          }, Date.now()));
          // Another claim id than the one stored: the claim was taken over meanwhile.
          await tx.completeIdempotency(randomUUID(), { partnerId: DEMO.tenantId, requestId, status: 200, headers: {}, body: 'never', createdAt: Date.now() }, lostClaim);
        });
      })]);
      assert.ok(outcome[0].status === 'rejected' && outcome[0].reason instanceof PartnerKitError);
      assert.equal(outcome[0].reason.message, 'claim lost');
      assert.equal((await stored())?.displayName, original.displayName);
      assert.equal(await auditCount(marker), 0);
    });
  }

  test('a change that fails on its own rule fails alone: its writes are undone, the others commit', async () => {
    const marker = randomUUID();
    const failing = randomUUID();
    const outcomes = await Promise.allSettled([
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, displayName: `${u.displayName} one` }))),
      store.changeTogether(KEY, change(failing, (u) => ({ ...u, displayName: 'Never Stored', usageLocation: 'JP' }), {
        fail: () => new PartnerKitError('invalidProperty', 'refused by a rule'),
      })),
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, displayName: `${u.displayName} three` }))),
    ]);
    assert.equal(outcomes[0].status, 'fulfilled');
    assert.equal(outcomes[1].status, 'rejected');
    assert.equal(outcomes[2].status, 'fulfilled');
    const last = await stored();
    assert.equal(last?.displayName, `${original.displayName} one three`);
    assert.equal(last.usageLocation, original.usageLocation);
    assert.equal(await auditCount(marker), 2);
    assert.equal(await auditCount(failing), 0);
  });

  test('a write that fails when sent (a UPN taken) rolls the shared transaction back; each change runs again alone', async () => {
    const other = await store.getUser(F.customerId, F.users.tomas);
    assert.ok(other);
    const marker = randomUUID();
    const runs = { n: 0 };
    const outcomes = await Promise.allSettled([
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, usageLocation: 'NO' }), { runs })),
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, upn: other.upn }), { runs })),
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, firstName: 'Joined' }), { runs })),
    ]);
    assert.equal(outcomes[0].status, 'fulfilled');
    assert.ok(outcomes[1].status === 'rejected' && outcomes[1].reason instanceof PartnerKitError);
    assert.equal(outcomes[1].reason.kind, 'userPrincipalNameInUse');
    assert.equal(outcomes[2].status, 'fulfilled');
    const last = await stored();
    assert.equal(last?.upn, original.upn);
    assert.equal(last.usageLocation, 'NO');
    assert.equal(last.firstName, 'Joined');
    assert.equal(await auditCount(marker), 2);
    // Shared, then each alone.
    assert.equal(runs.n, TEST_ENGINE === 'postgres' ? 6 : 3);
  });

  test('an error that is not a rule of the service runs every change again alone', async () => {
    const marker = randomUUID();
    const outcomes = await Promise.allSettled([
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, lastName: 'Shared' }))),
      store.changeTogether(KEY, async (tx) => {
        await tx.getUserForUpdate(F.customerId, F.users.ordinary);
        throw new Error('not a rule');
      }),
    ]);
    assert.equal(outcomes[0].status, 'fulfilled');
    assert.ok(outcomes[1].status === 'rejected' && outcomes[1].reason instanceof Error);
    assert.equal(outcomes[1].reason.message, 'not a rule');
    assert.equal((await stored())?.lastName, 'Shared');
    assert.equal(await auditCount(marker), 1);
  });

  test('a value changed and changed back is stored as the last change left it, also when writes left in between', async () => {
    const marker = randomUUID();
    const to = original.usageLocation === 'NO' ? 'SE' : 'NO';
    await Promise.all([
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, usageLocation: to }))),
      // A read of the store's own statements sends what the changes before held back (PostgreSQL).
      store.changeTogether(KEY, async (tx) => {
        await tx.getIdempotency(DEMO.tenantId, randomUUID());
        return change(marker, (u) => ({ ...u, usageLocation: original.usageLocation }))(tx);
      }),
    ]);
    assert.equal((await stored())?.usageLocation, original.usageLocation);
    await Promise.all([
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, usageLocation: to }))),
      store.changeTogether(KEY, change(marker, (u) => ({ ...u, usageLocation: original.usageLocation }))),
    ]);
    assert.equal((await stored())?.usageLocation, original.usageLocation);
    assert.equal(await auditCount(marker), 4);
  });
});
