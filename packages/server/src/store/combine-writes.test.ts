/**
 * `StoreTx.combineWrites` on the test engine: a user's change, its audit record and its replay answer commit
 * together or not at all, with the same errors as when each write is sent alone. On PostgreSQL they also reach
 * the database as one statement (watched through the store's query log). So do the
 * replay claims, and the reads of users, of requests that arrive together.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PartnerKitError } from '../errors.js';
import { loadSeed } from '../seed/load.js';
import { DEMO, DEMO_IDS, DEMO_SEED } from '../seed/demo.js';
import { auditRow } from '../audit/records.js';
import { demoAgentActor, demoAuditRecords, openTestStore, TEST_ENGINE } from '../testing/harness.js';
import type { AuditRecordRow, CustomerRecord, UserRecord } from './records.js';
import { FIXED_POSTGRES_SQL, type Store } from './store.js';

const F = DEMO_IDS.fabrikam;

/** An audit record of a change of `u` in `customer`, built as the service builds them; `marker` is its correlation id. */
const auditFor = (customer: CustomerRecord, u: UserRecord, marker: string): AuditRecordRow =>
  auditRow(demoAgentActor(marker), customer, {
    operationType: 'update_customer_user', resourceType: 'customer_user', resourceId: u.id, oldValue: null, newValue: null,
    customizedData: [{ key: 'CustomerUserId', value: u.id }],
  }, Date.now());

const lost = (): Error => new PartnerKitError('unavailable', 'claim lost');

describe(`combined writes (${TEST_ENGINE})`, () => {
  let store: Store;
  /** PostgreSQL: the statements the store sent, from Kysely's log. */
  const sent: string[] = [];
  let fabrikam: CustomerRecord;

  before(async () => {
    // On SQLite, replay records found through the index on their key (as past `MAX_REPLAY_KEYS`): the claims in
    // the store tested here, those of a store several processes share, need it.
    store = await openTestStore(TEST_ENGINE, { onQuery: (q) => sent.push(q), maxReplayKeys: 0 });
    await loadSeed(store, DEMO_SEED);
    const c = await store.getCustomer(F.customerId);
    assert.ok(c);
    fabrikam = c;
  });
  after(async () => {
    await store.close();
  });

  const claim = async (claimId: string): Promise<{ partnerId: string; requestId: string }> => {
    const key = { partnerId: DEMO.tenantId, requestId: randomUUID() };
    assert.equal(await store.claimIdempotency({ ...key, fingerprint: 'f', claimId, createdAt: Date.now() }), true);
    return key;
  };
  const answer = (key: { partnerId: string; requestId: string }, body: string) => ({ ...key, status: 200, headers: { 'x-test': '1' }, body, createdAt: Date.now() });
  const auditCount = async (marker: string): Promise<number> =>
    (await demoAuditRecords(store))
      .filter((r) => r.record.correlationId === marker).length;

  test('the change, its audit record and the replay answer commit together (one statement on PostgreSQL)', async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(user);
    const changed: UserRecord = { ...user, usageLocation: user.usageLocation === 'NO' ? 'SE' : 'NO' };
    const marker = randomUUID();
    const claimId = randomUUID();
    const key = await claim(claimId);
    const from = sent.length;
    await store.transaction(async (tx) => {
      const before = await tx.getUserForUpdate(F.customerId, user.id);
      assert.ok(before);
      await tx.combineWrites(async () => {
        await tx.updateUser(changed, before);
        await tx.insertAudit(auditFor(fabrikam, user, marker));
        await tx.completeIdempotency(claimId, answer(key, 'the answer'), lost);
      });
    });
    assert.equal((await store.getUser(F.customerId, user.id))?.usageLocation, changed.usageLocation);
    assert.equal(await auditCount(marker), 1);
    const stored = await store.getIdempotency(key.partnerId, key.requestId);
    assert.equal(stored?.body, 'the answer');
    assert.notEqual(stored.status, 0);
    if (TEST_ENGINE === 'postgres') {
      const writes = sent.slice(from).filter((q) => /^(with|update|insert|delete)\b/i.test(q));
      assert.equal(writes.length, 1, writes.join('\n'));
      assert.match(writes[0] ?? '', /^with w0 as \(update users set usage_location = \$1 where id = \$2 returning 1\), w1 as \(insert into audit_records/);
    }
  });

  test('a change that sets no column differently writes nothing to the user', async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(user);
    const from = sent.length;
    const version = store.usersVersion();
    await store.transaction(async (tx) => {
      await tx.combineWrites(() => tx.updateUser({ ...user }, user));
    });
    if (TEST_ENGINE === 'postgres') {
      assert.deepEqual(sent.slice(from).filter((q) => /^update users/i.test(q)), []);
    } else {
      // A write of users moves the store's users version, which empties the kept pages of users.
      assert.equal(store.usersVersion(), version);
    }
    assert.deepEqual(await store.getUser(F.customerId, user.id), user);
  });

  test('a replay claim taken over meanwhile fails the transaction: the change and its audit record are undone', async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(user);
    const marker = randomUUID();
    const key = await claim(randomUUID());
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.combineWrites(async () => {
          await tx.updateUser({ ...user, displayName: 'Never Stored' }, user);
          await tx.insertAudit(auditFor(fabrikam, user, marker));
          await tx.completeIdempotency(randomUUID(), answer(key, 'never'), lost);
        });
      }),
      (err: unknown) => err instanceof PartnerKitError && err.message === 'claim lost',
    );
    assert.equal((await store.getUser(F.customerId, user.id))?.displayName, user.displayName);
    assert.equal(await auditCount(marker), 0);
    assert.equal((await store.getIdempotency(key.partnerId, key.requestId))?.status, 0);
  });

  test('several audit records and replay answers held together: each answer lands on its own claim (one statement of one shape on PostgreSQL, not prepared; one of each is prepared)', async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(user);
    const run = async (n: number): Promise<{ keys: { partnerId: string; requestId: string }[]; marker: string; statement: string | undefined }> => {
      const marker = randomUUID();
      const claims = await Promise.all(Array.from({ length: n }, async () => {
        const claimId = randomUUID();
        return { claimId, key: await claim(claimId) };
      }));
      const from = sent.length;
      await store.transaction(async (tx) => {
        await tx.combineWrites(async () => {
          for (const [i, c] of claims.entries()) {
            await tx.insertAudit(auditFor(fabrikam, user, marker));
            await tx.completeIdempotency(c.claimId, answer(c.key, `answer ${String(i)}`), lost);
          }
        });
      });
      return { keys: claims.map((c) => c.key), marker, statement: sent.slice(from).find((q) => /^with\b/i.test(q)) };
    };
    const one = await run(1);
    const three = await run(3);
    const five = await run(5);
    for (const r of [one, three, five]) {
      assert.equal(await auditCount(r.marker), r.keys.length);
      for (const [i, key] of r.keys.entries()) {
        const stored = await store.getIdempotency(key.partnerId, key.requestId);
        assert.equal(stored?.body, `answer ${String(i)}`);
        assert.equal(stored.status, 200);
      }
    }
    if (TEST_ENGINE === 'postgres') {
      assert.ok(three.statement !== undefined && five.statement !== undefined);
      assert.equal(three.statement, five.statement, 'the same text whatever the number of writes');
      assert.match(three.statement, /\bunnest\(/);
      assert.ok(!FIXED_POSTGRES_SQL.has(three.statement), 'not prepared: PostgreSQL plans it for its arrays each time');
      assert.ok(one.statement !== undefined);
      assert.doesNotMatch(one.statement, /\bunnest\(/);
      assert.ok(FIXED_POSTGRES_SQL.has(one.statement), 'one write of each kind: prepared, as before');
    }
  });

  test('of several replay answers held together, one whose claim was taken over fails the transaction: none of them and no audit record stays', async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    assert.ok(user);
    const marker = randomUUID();
    const claims = await Promise.all([0, 1, 2].map(async () => {
      const claimId = randomUUID();
      return { claimId, key: await claim(claimId) };
    }));
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.combineWrites(async () => {
          for (const [i, c] of claims.entries()) {
            await tx.insertAudit(auditFor(fabrikam, user, marker));
            // The middle one holds another claim id than the stored one: its claim was taken over.
            await tx.completeIdempotency(i === 1 ? randomUUID() : c.claimId, answer(c.key, 'never'), lost);
          }
        });
      }),
      (err: unknown) => err instanceof PartnerKitError && err.message === 'claim lost',
    );
    assert.equal(await auditCount(marker), 0);
    for (const c of claims) assert.equal((await store.getIdempotency(c.key.partnerId, c.key.requestId))?.status, 0);
  });

  test("a UPN another user holds is refused as 60009's error, and nothing of the transaction stays", async () => {
    const user = await store.getUser(F.customerId, F.users.ordinary);
    const other = await store.getUser(F.customerId, F.users.tomas);
    assert.ok(user && other);
    const marker = randomUUID();
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.combineWrites(async () => {
          await tx.insertAudit(auditFor(fabrikam, user, marker));
          await tx.updateUser({ ...user, upn: other.upn }, user);
        });
      }),
      (err: unknown) => err instanceof PartnerKitError && err.kind === 'userPrincipalNameInUse',
    );
    assert.equal((await store.getUser(F.customerId, user.id))?.upn, user.upn);
    assert.equal(await auditCount(marker), 0);
  });

  test('claims of request ids made at once: each id is won once (one statement on PostgreSQL)', async () => {
    const taken = { partnerId: DEMO.tenantId, requestId: randomUUID() };
    assert.equal(await store.claimIdempotency({ ...taken, fingerprint: 'f', claimId: randomUUID(), createdAt: Date.now() }), true);
    const fresh = Array.from({ length: 5 }, () => ({ partnerId: DEMO.tenantId, requestId: randomUUID() }));
    const twice = { partnerId: DEMO.tenantId, requestId: randomUUID() };
    const claims = [...fresh, taken, twice, twice].map((k) => ({ ...k, fingerprint: 'f', claimId: randomUUID(), createdAt: Date.now() }));
    const from = sent.length;
    const won = await Promise.all(claims.map((c) => store.claimIdempotency(c)));
    assert.deepEqual(won.slice(0, 6), [true, true, true, true, true, false]);
    assert.equal(won.slice(6).filter(Boolean).length, 1, 'one of two claims of one id');
    const winner = claims[won[6] === true ? 6 : 7];
    assert.equal((await store.getIdempotency(twice.partnerId, twice.requestId))?.claimId, winner?.claimId);
    if (TEST_ENGINE === 'postgres') assert.equal(sent.slice(from).filter((q) => q.startsWith('insert into idempotency')).length, 1);
  });

  test('reads of users made at once: each gets its own user, or none (one statement on PostgreSQL)', async () => {
    const from = sent.length;
    const [a, b, again, elsewhere, unknown] = await Promise.all([
      store.getUser(F.customerId, F.users.ordinary),
      store.getUser(F.customerId, F.users.tomas.toUpperCase()),
      store.getUser(F.customerId, F.users.ordinary),
      store.getUser(DEMO_IDS.contoso.customerId, F.users.ordinary),
      store.getUser(F.customerId, randomUUID()),
    ]);
    assert.equal(a?.id, F.users.ordinary);
    assert.equal(b?.id, F.users.tomas);
    assert.deepEqual(again, a);
    assert.equal(elsewhere, undefined, 'a user of another customer is not found');
    assert.equal(unknown, undefined);
    if (TEST_ENGINE === 'postgres') assert.equal(sent.slice(from).filter((q) => q.startsWith('select * from users')).length, 1);
  });
});
