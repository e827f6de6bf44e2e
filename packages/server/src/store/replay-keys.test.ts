/**
 * Replay records of the SQLite store are found by key in memory (store/replay-keys.ts) instead of through an
 * index on their random key: the table finds exactly what has committed, across restarts, purges and replaced
 * answers, and past its limit SQLite indexes the key instead.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { seededRandom, suiteTempDir } from '../testing/harness.js';
import { ReplayKeys, replayKeyHash } from './replay-keys.js';
import { openSqliteStore, SQLITE_FILE } from './sqlite.js';
import type { Store } from './store.js';

describe('ReplayKeys', () => {
  test('finds every record it holds under its hash and no other (and says whether it holds any), through growth, removals and shrinking', () => {
    const keys = new ReplayKeys();
    /** The model: seqs by hash. Few distinct hashes, so that chains are long and many records share a hash. */
    const model = new Map<number, Set<number>>();
    const next = seededRandom(12345);
    const random = (n: number): number => Math.floor(next() * n);
    const check = (): void => {
      for (const [hash, seqs] of model) {
        assert.deepEqual(new Set(keys.find(hash)), seqs, `hash ${String(hash)}`);
        assert.equal(keys.has(hash), seqs.size > 0, `has ${String(hash)}`);
      }
      assert.equal(keys.size, [...model.values()].reduce((n, s) => n + s.size, 0));
    };
    let seq = 0;
    // Hashes whose low bits collide too (the same slot); 0xffffffff, whose chain wraps past the last slot into the
    // first ones, where 1 << 20 (slot 0 of every table here) and 1 have theirs.
    const hashOf = (): number => [0xffff_ffff, 1 << 20, 1, 1 + 1024, 2 + 2048 * 7, 3 + random(1 << 20)][random(6)] ?? 1;
    for (let i = 0; i < 20_000; i++) {
      const hash = hashOf();
      keys.add(hash, ++seq);
      const seqs = model.get(hash) ?? new Set<number>();
      seqs.add(seq);
      model.set(hash, seqs);
    }
    check();
    const grown = keys.bytes;
    assert.ok(grown >= 20_000 * 8 * (4 / 3), `${String(grown)} bytes for 20,000 records`);
    // Remove nine in ten, in random order, checking now and then; a record not held is not removed.
    const all = [...model].flatMap(([hash, seqs]) => [...seqs].map((s) => ({ hash, seq: s })));
    for (let i = all.length - 1; i > 0; i--) {
      const j = random(i + 1);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    for (const [n, r] of all.slice(0, 18_000).entries()) {
      assert.equal(keys.remove(r.hash, r.seq), true);
      model.get(r.hash)?.delete(r.seq);
      if (n % 1000 === 0) check();
    }
    assert.equal(keys.remove(1, 999_999), false);
    check();
    assert.ok(keys.bytes <= grown / 4, `shrank from ${String(grown)} to ${String(keys.bytes)} bytes`);
  });

  test('a removal at the last slot leaves the records whose chain wraps to the first slots where they are found', () => {
    const keys = new ReplayKeys(); // 1,024 slots
    keys.add(0xffff_ffff, 1); // slot 1023
    keys.add(1 << 20, 2); // its home, slot 0
    keys.add(0xffff_ffff, 3); // slot 1023 is taken, slot 0 too: slot 1
    keys.add(1 << 20, 4); // slot 2
    assert.equal(keys.remove(0xffff_ffff, 1), true); // 3 moves to 1023; 2 stays at its home; 4 moves to 1
    assert.deepEqual(keys.find(1 << 20).sort(), [2, 4]);
    assert.deepEqual(keys.find(0xffff_ffff), [3]);
    assert.equal(keys.remove(1 << 20, 2), true);
    assert.deepEqual(keys.find(1 << 20), [4]);
    assert.deepEqual(keys.find(0xffff_ffff), [3]);
  });

  test('forgetting below a seq, in one pass or a share of the slots at a time, removes exactly the records under it, chains that wrap included', () => {
    const keys = new ReplayKeys();
    const model = new Map<number, Set<number>>();
    const next = seededRandom(777);
    // Long chains (few hashes), one wrapping past the last slot; seqs in order, as the store adds them.
    const hashes = [0xffff_ffff, 1 << 20, 1, 1 + 1024, 2 + 2048 * 7];
    for (let seq = 1; seq <= 20_000; seq++) {
      const hash = next() < 0.3 ? (hashes[Math.floor(next() * hashes.length)] ?? 1) : 3 + Math.floor(next() * (1 << 20));
      keys.add(hash, seq);
      model.set(hash, (model.get(hash) ?? new Set<number>()).add(seq));
    }
    assert.equal(keys.newest, 20_000);
    const grown = keys.bytes;
    const check = (floor: number): void => {
      let held = 0;
      for (const [hash, seqs] of model) {
        const kept = [...seqs].filter((q) => q >= floor);
        held += kept.length;
        assert.deepEqual(keys.find(hash).sort((a, b) => a - b), kept, `hash ${String(hash)} after forgetting below ${String(floor)}`);
      }
      assert.equal(keys.size, held);
    };
    assert.equal(keys.forgetBelow(1), 0);
    assert.equal(keys.forgetBelow(5_001), 5_000);
    check(5_001);
    assert.equal(keys.forgetBelow(18_001), 13_000);
    check(18_001);
    assert.ok(keys.bytes <= grown / 4, `shrank from ${String(grown)} to ${String(keys.bytes)} bytes`);
    assert.equal(keys.newest, 20_000, 'the newest seq added stays');
    // A share of the slots at a time: a round over them all (and one more, for what a removal moved back behind the
    // share) forgets what one pass would.
    for (let seq = 20_001; seq <= 24_000; seq++) {
      const hash = hashes[seq % hashes.length] ?? 1;
      keys.add(hash, seq);
      model.set(hash, (model.get(hash) ?? new Set<number>()).add(seq));
    }
    const slots = keys.bytes / 8;
    let forgotten = 0;
    for (let swept = 0; swept < 2 * slots; swept += 100) forgotten += keys.forgetSome(21_001, 100);
    assert.equal(forgotten, 2_000 + 1_000);
    check(21_001);
  });

  test('the hash tells apart which text a character belongs to, and is never 0', () => {
    assert.notEqual(replayKeyHash('ab', 'c'), replayKeyHash('a', 'bc'));
    for (let i = 0; i < 10_000; i++) assert.notEqual(replayKeyHash('p', String(i)), 0);
  });
});

describe('replay records of the SQLite store', () => {
  const dir = suiteTempDir('pk-replay-');
  let n = 0;
  /** `max`: most replay records found in memory; `idleMs`: the pause in writes before forgotten rows are deleted. */
  type Limits = { max?: number; idleMs?: number };
  const open = (dataDir: string, limits: Limits = {}): Promise<Store> => openSqliteStore({
    dataDir, synchronous: 'normal',
    ...(limits.max === undefined ? {} : { maxReplayKeys: limits.max }), ...(limits.idleMs === undefined ? {} : { replayIdleMs: limits.idleMs }),
  });
  /** Opens the store of `dataDir`, runs `fn` on it and closes it. */
  const withStore = async (dataDir: string, fn: (store: Store) => Promise<void>, limits?: Limits): Promise<void> => {
    const store = await open(dataDir, limits);
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
  const answer = (requestId: string, body: string, createdAt = Date.now()): Parameters<Store['saveIdempotency']>[0] => ({
    partnerId: 'p', requestId, fingerprint: `f-${body}`, status: 200, headers: { 'content-type': 'application/json' }, body, createdAt, claimId: 'c',
  });
  const save = (store: Store, a: Parameters<Store['saveIdempotency']>[0]): Promise<void> => store.transaction((tx) => tx.saveIdempotency(a));
  /** What SQLite holds: the indexes of the replay table, and its rows by request id. */
  const onDisk = (dataDir: string): { indexes: string[]; rows: Map<string, number> } => {
    const db = new BetterSqlite3(join(dataDir, SQLITE_FILE), { readonly: true });
    try {
      const indexes = (db.prepare(`select name from pragma_index_list('idempotency') order by name`).all() as { name: string }[]).map((r) => r.name);
      const rows = new Map<string, number>();
      for (const r of db.prepare('select request_id, count(*) as n from idempotency group by request_id').all() as { request_id: string; n: number }[]) {
        rows.set(r.request_id, r.n);
      }
      return { indexes, rows };
    } finally {
      db.close();
    }
  };

  test('are found by key in memory, with no index on the key, and again after the store is opened anew', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      for (const id of ['r1', 'r2', 'r3']) await save(store, answer(id, `{"id":"${id}"}`));
      assert.equal((await store.getIdempotency('p', 'r2'))?.body, '{"id":"r2"}');
      assert.equal(await store.getIdempotency('p', 'r4'), undefined);
      assert.equal(await store.getIdempotency('q', 'r1'), undefined, 'another partner has no record of the id');
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'memory', records: 3, bytes: 8192 });
    });
    assert.deepEqual(onDisk(dataDir).indexes, ['idempotency_created']);
    await withStore(dataDir, async (store) => {
      for (const id of ['r1', 'r2', 'r3']) assert.equal((await store.getIdempotency('p', id))?.body, `{"id":"${id}"}`);
      assert.equal(store.replayKeyStats().records, 3);
    });
  });

  test('a record is found once its transaction has committed, and never when it rolled back', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      await assert.rejects(store.transaction(async (tx) => {
        await tx.saveIdempotency(answer('undone', '{}'));
        throw new Error('the operation failed');
      }), /the operation failed/);
      assert.equal(await store.getIdempotency('p', 'undone'), undefined);
      assert.equal(store.replayKeyStats().records, 0);
      // Saved outside a transaction (a statement of its own), it is found at once.
      await store.saveIdempotency(answer('alone', '{"alone":true}'));
      assert.equal((await store.getIdempotency('p', 'alone'))?.body, '{"alone":true}');
    });
  });

  test('an answer saved again replaces the record of its key: one row per key', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      await save(store, answer('r1', '{"v":1}', 1_000));
      await save(store, answer('r1', '{"v":2}', 2_000));
      const found = await store.getIdempotency('p', 'r1');
      assert.deepEqual([found?.body, found?.createdAt], ['{"v":2}', 2_000]);
    });
    assert.equal(onDisk(dataDir).rows.get('r1'), 1);
  });

  test('two keys of one hash are each found as themselves', async () => {
    // Find two request ids whose 32-bit hashes collide (about 80,000 tries, by the birthday bound).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined && i < 5_000_000; i++) {
      const id = `id-${String(i)}`;
      const hash = replayKeyHash('p', id);
      const other = seen.get(hash);
      if (other !== undefined) pair = [other, id];
      else seen.set(hash, id);
    }
    assert.ok(pair, 'a colliding pair of ids');
    const [a, b] = pair;
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      await save(store, answer(a, '{"k":"a"}'));
      assert.equal(await store.getIdempotency('p', b), undefined, 'the other key of the hash has no record');
      await save(store, answer(b, '{"k":"b"}'));
      assert.equal((await store.getIdempotency('p', a))?.body, '{"k":"a"}');
      assert.equal((await store.getIdempotency('p', b))?.body, '{"k":"b"}');
      await save(store, answer(b, '{"k":"b2"}'));
      assert.equal((await store.getIdempotency('p', a))?.body, '{"k":"a"}');
      assert.equal((await store.getIdempotency('p', b))?.body, '{"k":"b2"}');
    });
    const rows = onDisk(dataDir).rows;
    assert.deepEqual([rows.get(a), rows.get(b)], [1, 1]);
  });

  test('a purge removes the expired records, in chunks, and they are no longer found', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      const expired = 5_000; // more than one chunk of the purge
      await store.transaction(async (tx) => {
        for (let i = 0; i < expired; i++) await tx.saveIdempotency(answer(`old-${String(i)}`, '{}', 1_000 + i));
        await tx.saveIdempotency(answer('new', '{"new":true}', 10_000));
      });
      const grown = store.replayKeyStats().bytes ?? 0;
      assert.equal(store.replayKeyStats().records, expired + 1);
      await store.purgeIdempotency(10_000);
      assert.equal(await store.getIdempotency('p', 'old-0'), undefined);
      assert.equal(await store.getIdempotency('p', `old-${String(expired - 1)}`), undefined);
      assert.equal((await store.getIdempotency('p', 'new'))?.body, '{"new":true}');
      const stats = store.replayKeyStats();
      assert.equal(stats.records, 1);
      assert.ok((stats.bytes ?? 0) < grown, `the table shrank: ${String(grown)} → ${String(stats.bytes)} bytes`);
    });
    assert.deepEqual([...onDisk(dataDir).rows.keys()], ['new']);
  });

  /** Waits until `dataDir`'s replay rows are `expected` (request ids, sorted), for at most 5 s. */
  const rowsBecome = async (dataDir: string, expected: string[]): Promise<void> => {
    let rows: string[] = [];
    for (let waited = 0; waited < 5_000; waited += 20) {
      rows = [...onDisk(dataDir).rows.keys()].sort();
      if (rows.join() === expected.join()) return;
      await sleep(20);
    }
    assert.deepEqual(rows, expected);
  };
  /** A store whose forgotten rows wait a minute for a pause in the writes (none comes in a test). */
  const BUSY = 60_000;
  /** A store whose forgotten rows go 20 ms after the last write. */
  const RESTING = 20;

  test('past the limit, the oldest records are forgotten, their rows kept while records are written and deleted once they pause', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      for (let i = 1; i <= 5; i++) await save(store, answer(`r${String(i)}`, `{"i":${String(i)}}`, i));
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'memory', records: 3, bytes: 8192 });
      for (const gone of ['r1', 'r2']) assert.equal(await store.getIdempotency('p', gone), undefined, `${gone} is forgotten`);
      for (let i = 3; i <= 5; i++) assert.equal((await store.getIdempotency('p', `r${String(i)}`))?.body, `{"i":${String(i)}}`);
      await save(store, answer('r3', '{"i":"3 again"}', 6)); // replaced in place: still three records
      assert.equal((await store.getIdempotency('p', 'r3'))?.body, '{"i":"3 again"}');
      assert.equal(store.replayKeyStats().records, 3);
    }, { max: 3, idleMs: BUSY });
    let disk = onDisk(dataDir);
    assert.deepEqual(disk.indexes, ['idempotency_created']);
    assert.deepEqual([...disk.rows.keys()].sort(), ['r1', 'r2', 'r3', 'r4', 'r5'], 'no pause came: the forgotten rows are kept');
    // Opened again, the newest three by creation are found (r3 was saved again last), and the rest go once nothing is written.
    await withStore(dataDir, async (store) => {
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'memory', records: 3, bytes: 8192 });
      await rowsBecome(dataDir, ['r3', 'r4', 'r5']);
      assert.equal((await store.getIdempotency('p', 'r3'))?.body, '{"i":"3 again"}');
    }, { max: 3, idleMs: RESTING });
    // Opened with a lower limit: r4 and r5, the oldest by creation, are forgotten, then deleted.
    await withStore(dataDir, async (store) => {
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'memory', records: 1, bytes: 8192 });
      assert.equal((await store.getIdempotency('p', 'r3'))?.body, '{"i":"3 again"}');
      assert.equal(await store.getIdempotency('p', 'r4'), undefined);
      await rowsBecome(dataDir, ['r3']);
    }, { max: 1, idleMs: RESTING });
    disk = onDisk(dataDir);
    assert.deepEqual([...disk.rows.keys()], ['r3']);
  });

  test('past a limit of more than 16 (where a share of the table is looked at per record), the newest are found, the oldest forgotten, and memory holds at most a sixteenth more', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      let most = 0;
      for (let i = 1; i <= 300; i++) {
        await save(store, answer(`r${String(i)}`, `{"i":${String(i)}}`, i));
        most = Math.max(most, store.replayKeyStats().records ?? 0);
      }
      // A limit of 64 forgets down to 60 (64 less a sixteenth) and falls back to a whole pass past 68.
      assert.ok(most <= 68, `at most ${String(most)} records held`);
      for (let i = 241; i <= 300; i++) assert.equal((await store.getIdempotency('p', `r${String(i)}`))?.body, `{"i":${String(i)}}`);
      for (let i = 1; i <= 200; i++) assert.equal(await store.getIdempotency('p', `r${String(i)}`), undefined, `r${String(i)} is forgotten`);
    }, { max: 64, idleMs: BUSY });
  });

  test('with more forgotten rows than the limit, they are deleted while records go on being written', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      for (let i = 1; i <= 12; i++) await save(store, answer(`r${String(i)}`, '{}', i));
      // Forgotten below r10; of their rows at most three (the limit) may wait for a pause, which never comes.
      const kept = ['r10', 'r11', 'r12'];
      for (let waited = 0; ; waited += 20) {
        const rows = [...onDisk(dataDir).rows.keys()];
        if (rows.length <= 6) {
          assert.ok(kept.every((k) => rows.includes(k)), `the records found keep their rows: ${rows.join()}`);
          break;
        }
        if (waited > 5_000) assert.fail(`${String(rows.length)} rows left: ${rows.join()}`);
        await sleep(20);
      }
      for (const k of kept) assert.equal((await store.getIdempotency('p', k))?.body, '{}');
    }, { max: 3, idleMs: BUSY });
  });

  test('a forgotten key written again has two rows, of which the older goes when the store opens again, or before its key is indexed', async () => {
    /** Writes x, y, z and w with a limit of 3, then x again: x's first record is forgotten by then, so x has two rows. */
    const twice = async (dataDir: string): Promise<void> => {
      await withStore(dataDir, async (store) => {
        for (const [i, id] of ['x', 'y', 'z', 'w'].entries()) await save(store, answer(id, `{"${id}":1}`, i + 1));
        assert.equal(await store.getIdempotency('p', 'x'), undefined, 'x is forgotten');
        await save(store, answer('x', '{"x":2}', 5));
        assert.equal((await store.getIdempotency('p', 'x'))?.body, '{"x":2}');
      }, { max: 3, idleMs: BUSY });
      assert.equal(onDisk(dataDir).rows.get('x'), 2);
    };
    const opened = join(dir(), `a${String(++n)}`);
    await twice(opened);
    await withStore(opened, async (store) => {
      assert.equal((await store.getIdempotency('p', 'x'))?.body, '{"x":2}');
      assert.equal(store.replayKeyStats().records, 4);
    }, { max: 10, idleMs: BUSY });
    assert.deepEqual([...onDisk(opened).rows].sort(), [['w', 1], ['x', 1], ['y', 1], ['z', 1]]);
    const indexed = join(dir(), `a${String(++n)}`);
    await twice(indexed);
    await withStore(indexed, async (store) => {
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'index' });
      assert.equal((await store.getIdempotency('p', 'x'))?.body, '{"x":2}');
    }, { max: 0 });
    const disk = onDisk(indexed);
    assert.deepEqual(disk.indexes, ['idempotency_created', 'idempotency_key']);
    assert.deepEqual([...disk.rows].sort(), [['w', 1], ['x', 1], ['y', 1], ['z', 1]]);
  });

  test('with a limit of 0 the key is indexed and records are found through it; opened again with a limit, memory finds them', async () => {
    const dataDir = join(dir(), `a${String(++n)}`);
    await withStore(dataDir, async (store) => {
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'index' });
      for (let i = 1; i <= 3; i++) await save(store, answer(`r${String(i)}`, `{"i":${String(i)}}`, i));
      await save(store, answer('r1', '{"i":"1 again"}', 4)); // replaced through the index's upsert
      assert.equal((await store.getIdempotency('p', 'r1'))?.body, '{"i":"1 again"}');
    }, { max: 0 });
    let disk = onDisk(dataDir);
    assert.deepEqual(disk.indexes, ['idempotency_created', 'idempotency_key']);
    assert.equal(disk.rows.get('r1'), 1);
    // More records than the limit: the oldest (r2) is forgotten and its row deleted, the index is dropped, memory
    // finds the rest.
    await withStore(dataDir, async (store) => {
      assert.deepEqual(store.replayKeyStats(), { foundBy: 'memory', records: 2, bytes: 8192 });
      assert.equal((await store.getIdempotency('p', 'r1'))?.body, '{"i":"1 again"}');
      assert.equal((await store.getIdempotency('p', 'r3'))?.body, '{"i":3}');
      assert.equal(await store.getIdempotency('p', 'r2'), undefined);
      await rowsBecome(dataDir, ['r1', 'r3']);
    }, { max: 2, idleMs: RESTING });
    disk = onDisk(dataDir);
    assert.deepEqual(disk.indexes, ['idempotency_created']);
    assert.deepEqual([...disk.rows].sort(), [['r1', 1], ['r3', 1]]);
  });
});
