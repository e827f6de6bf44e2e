/**
 * The users as SQLite's writer connection has them (`KeptUsers`, `Store.transaction`): a change of a user finds it there instead of
 * reading it, and what it finds is always what a read on the writer would give: after changes kept, undone, purged
 * outside a transaction, or lost with their batch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { openTestStore, seedStoreUsers, seededRandom, suiteTempDir, TEST_ENGINE } from '../testing/harness.js';
import type { UserRecord } from './records.js';
import type { Database } from './schema.js';
import { openSqliteStore, SQLITE_FILE } from './sqlite.js';
import type { Store, StoreTx } from './store.js';

const PARTNER = '5a0e2f4c-1b3d-4e6f-8a9b-0c1d2e3f4a01';
const CUSTOMER = '5a0e2f4c-1b3d-4e6f-8a9b-0c1d2e3f4a02';
const OTHER_CUSTOMER = '5a0e2f4c-1b3d-4e6f-8a9b-0c1d2e3f4a03';

const seed = (store: Store, count: number): Promise<UserRecord[]> =>
  seedStoreUsers(store, { partnerId: PARTNER, customerIds: [CUSTOMER, OTHER_CUSTOMER], domain: 'writer.example', count });

/** A change as the users service makes one: the user read for update, then written with `change` applied. */
function change(store: Store, u: UserRecord, patch: Partial<UserRecord>, fail = false): Promise<UserRecord> {
  return store.transaction(async (tx) => {
    const found = await tx.getUserForUpdate(CUSTOMER, u.id);
    assert.ok(found, `user ${u.id} not found for update`);
    const changed = { ...found, ...patch };
    await tx.updateUser(changed, found);
    if (fail) throw new Error('undone');
    return changed;
  });
}

/** The user as SQLite has it, read with a statement in a transaction (not through what the store keeps). */
const stored = (store: Store, u: UserRecord): Promise<UserRecord | undefined> =>
  store.transaction((tx) => tx.getUser(CUSTOMER, u.id));

/** What a change would find now. */
const forUpdate = (store: Store, u: UserRecord, customerId = CUSTOMER): Promise<UserRecord | undefined> =>
  store.transaction((tx) => tx.getUserForUpdate(customerId, u.id));

describe(`a change finds the user as last written (${TEST_ENGINE})`, () => {
  let store: Store;
  let users: UserRecord[];

  before(async () => {
    store = await openTestStore();
    users = await seed(store, 12);
  });
  after(async () => {
    await store.close();
  });

  test('after a change that was undone, the user as before it', async () => {
    const u = users[0] as UserRecord;
    assert.equal((await forUpdate(store, u))?.usageLocation, 'US');
    await assert.rejects(change(store, u, { usageLocation: 'GB' }, true), /undone/);
    assert.equal((await forUpdate(store, u))?.usageLocation, 'US');
    assert.deepEqual(await forUpdate(store, u), await stored(store, u));
  });

  test('after a purge outside a transaction, no user; under another customer, none either', async () => {
    const u = users[1] as UserRecord;
    await change(store, u, { displayName: 'Changed once' });
    assert.equal(await forUpdate(store, u, OTHER_CUSTOMER), undefined);
    await store.purgeUser(u.id);
    assert.equal(await forUpdate(store, u), undefined);
  });

  test('changes racing on the same users, some undone: each change builds on the one before, and ends as stored', async () => {
    const racing = users.slice(2, 8);
    const random = seededRandom(7);
    const counts = new Map<string, number>();
    const work: Promise<unknown>[] = [];
    for (let round = 0; round < 12; round++) {
      for (const u of racing) {
        const fail = random() < 0.3;
        work.push(store.transaction(async (tx) => {
          const found = await tx.getUserForUpdate(CUSTOMER, u.id);
          assert.ok(found);
          // Each kept change adds one to the count the user had: a stale read would lose one.
          const n = Number(found.phoneNumber ?? '0') + 1;
          await tx.updateUser({ ...found, phoneNumber: String(n), usageLocation: round % 2 === 0 ? 'DE' : 'FR' }, found);
          if (fail) throw new Error('undone');
          counts.set(u.id, (counts.get(u.id) ?? 0) + 1);
        }).catch((err: unknown) => {
          if (!(err instanceof Error) || err.message !== 'undone') throw err;
        }));
      }
    }
    await Promise.all(work);
    for (const u of racing) {
      const found = await forUpdate(store, u);
      assert.deepEqual(found, await stored(store, u));
      assert.equal(found?.phoneNumber, String(counts.get(u.id) ?? 0));
    }
  });
});

describe('the writer\'s users (SQLite)', () => {
  const dir = suiteTempDir('pk-writer-users-');
  let store: Store;
  let users: UserRecord[];

  before(async () => {
    store = await openSqliteStore({ dataDir: dir(), synchronous: 'normal' });
    users = await seed(store, 4);
  });
  after(async () => {
    await store.close();
  });

  test('a user changed is found by the next change without a read: a row changed behind the store is not seen', async () => {
    const u = users[0] as UserRecord;
    const changed = await change(store, u, { usageLocation: 'SE' });
    // Another connection changes the row; a change of the user that read it would see that.
    const other = new BetterSqlite3(join(dir(), SQLITE_FILE));
    try {
      other.pragma('busy_timeout = 5000');
      other.prepare('update users set display_name = ? where id = ?').run('Behind the store', u.id);
    } finally {
      other.close();
    }
    assert.equal((await stored(store, u))?.displayName, 'Behind the store');
    const found = await forUpdate(store, u);
    assert.deepEqual(found, changed);
    assert.ok(Object.isFrozen(found));
  });

  test('when its batch is lost, a change kept in it is undone and the next change finds the user as committed', async () => {
    const u = users[1] as UserRecord;
    await change(store, u, { usageLocation: 'NO' });
    // Two transactions in one batch: the first changes the user and is kept; the second leaves a foreign key
    // broken, which SQLite checks only at the batch's COMMIT (deferred), so the whole batch fails.
    const kept = change(store, u, { usageLocation: 'DK' });
    const breaking = store.transaction(async (tx: StoreTx) => {
      // The transaction's Kysely executor (protected: the store's own methods make no such statement).
      const db = (tx as unknown as { db: Kysely<Database> }).db;
      await sql`pragma defer_foreign_keys = on`.execute(db);
      await tx.addUserRole(CUSTOMER, randomUUID(), '62e90394-69f5-4237-9190-012177145e10');
    });
    const results = await Promise.allSettled([kept, breaking]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.match(String((results[0] as PromiseRejectedResult).reason), /FOREIGN KEY/);
    assert.equal((await stored(store, u))?.usageLocation, 'NO');
    assert.equal((await forUpdate(store, u))?.usageLocation, 'NO');
  });

  test('a user a transaction wrote is read back by it, and what it read back is forgotten if it is undone', async () => {
    const u = users[2] as UserRecord;
    await change(store, u, { usageLocation: 'FI' });
    const seen = await store.transaction(async (tx) => {
      const found = await tx.getUserForUpdate(CUSTOMER, u.id);
      assert.ok(found);
      await tx.updateUser({ ...found, usageLocation: 'IE' }, found);
      return tx.getUserForUpdate(CUSTOMER, u.id);
    });
    assert.equal(seen?.usageLocation, 'IE');
    assert.equal((await forUpdate(store, u))?.usageLocation, 'IE');
    // Read back, then undone: what it read back was never the writer's for good.
    await assert.rejects(store.transaction(async (tx) => {
      const found = await tx.getUserForUpdate(CUSTOMER, u.id);
      assert.ok(found);
      await tx.updateUser({ ...found, usageLocation: 'ES' }, found);
      assert.equal((await tx.getUserForUpdate(CUSTOMER, u.id))?.usageLocation, 'ES');
      throw new Error('undone');
    }), /undone/);
    assert.equal((await forUpdate(store, u))?.usageLocation, 'IE');
  });
});
