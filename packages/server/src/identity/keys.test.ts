/**
 * The issuer's signing keys: kept in the store (both engines), imported once from the `signing-key.json` of
 * earlier versions, rotated without invalidating the tokens of the previous key until they expire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { openTestStore } from '../testing/harness.js';
import { generateSigningKey, KeyRing, SIGNING_KEY_FILE, type SigningKey } from './keys.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'partnerkit-keys-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await openTestStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

const signWith = (key: SigningKey): Promise<string> =>
  new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey);

const verifies = async (token: string, keys: readonly JWK[]): Promise<boolean> => {
  try {
    await jwtVerify(token, createLocalJWKSet({ keys: [...keys] }), { algorithms: ['RS256'] });
    return true;
  } catch {
    return false;
  }
};

const kids = (keys: readonly JWK[]): string[] => keys.map((k) => k.kid ?? '').sort();

void test('the first start creates a key in the store; the next start (another instance) signs with the same key', async () => {
  await withStore(async (store) => {
    const first = await KeyRing.open(store);
    const token = await signWith(first.signing());
    const second = await KeyRing.open(store);
    assert.equal(second.signing().kid, first.signing().kid);
    assert.deepEqual(second.publicKeys(), [first.signing().publicJwk]);
    assert.equal(await verifies(token, second.publicKeys()), true);
    assert.equal((await store.listSigningKeys()).length, 1);
  });
});

void test('SQLite: the key lives in the database file of the data directory, and no key file is written', async () => {
  await withTempDir(async (dir) => {
    const s1 = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
    const kid = (await KeyRing.open(s1, { legacyDir: dir })).signing().kid;
    await s1.close();
    const s2 = await openSqliteStore({ dataDir: dir, synchronous: 'normal' });
    try {
      assert.equal((await KeyRing.open(s2, { legacyDir: dir })).signing().kid, kid);
    } finally {
      await s2.close();
    }
    assert.equal(existsSync(join(dir, SIGNING_KEY_FILE)), false);
    assert.deepEqual((await readdir(dir)).filter((f) => !f.startsWith('partnerkit.sqlite')), []);
  });
});

void test('a signing-key.json of an earlier version is imported once: old tokens keep verifying, and the file is left as it was', async () => {
  await withTempDir(async (dir) => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const text = `${JSON.stringify({ ...jwk, alg: 'RS256', use: 'sig' }, null, 2)}\n`;
    await writeFile(join(dir, SIGNING_KEY_FILE), text, { mode: 0o600 });
    const oldToken = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    await withStore(async (store) => {
      const ring = await KeyRing.open(store, { legacyDir: dir });
      assert.equal(await verifies(oldToken, ring.publicKeys()), true);
      assert.equal(await readFile(join(dir, SIGNING_KEY_FILE), 'utf8'), text);
      // once the store has a key, the file is not read again (even if it changed or broke)
      await writeFile(join(dir, SIGNING_KEY_FILE), 'not json');
      assert.equal((await KeyRing.open(store, { legacyDir: dir })).signing().kid, ring.signing().kid);
    });
  });
});

void test('an unreadable legacy key file is an error and is left as it was', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, SIGNING_KEY_FILE);
    await withStore(async (store) => {
      await writeFile(file, '{"kty":"RSA","n":"abc"}', { mode: 0o600 });
      await assert.rejects(KeyRing.open(store, { legacyDir: dir }), /does not hold an RSA private JWK/);
      await writeFile(file, 'not json', { mode: 0o600 });
      await assert.rejects(KeyRing.open(store, { legacyDir: dir }), /not valid JSON/);
      assert.equal(await readFile(file, 'utf8'), 'not json');
      assert.deepEqual(await store.listSigningKeys(), []);
    });
  });
});

void test('kid is the RFC 7638 SHA-256 thumbprint and the public JWK carries no private member', async () => {
  const key = await generateSigningKey();
  const { n, e } = key.publicJwk;
  assert.ok(typeof n === 'string' && typeof e === 'string');
  const thumbprint = createHash('sha256').update(`{"e":"${e}","kty":"RSA","n":"${n}"}`).digest('base64url');
  assert.equal(key.kid, thumbprint);
  assert.deepEqual(key.publicJwk, { kty: 'RSA', n, e, kid: thumbprint, alg: 'RS256', use: 'sig' });
  assert.ok(n.length >= 342, 'at least a 2048-bit modulus');
});

void test('a :memory: store gets a fresh key at each start and writes nothing', async () => {
  const a = await openSqliteStore({ dataDir: ':memory:', synchronous: 'normal' });
  const b = await openSqliteStore({ dataDir: ':memory:', synchronous: 'normal' });
  try {
    const ka = await KeyRing.open(a, { legacyDir: ':memory:' });
    const kb = await KeyRing.open(b, { legacyDir: ':memory:' });
    assert.notEqual(ka.signing().kid, kb.signing().kid);
    assert.ok(!existsSync(':memory:'));
  } finally {
    await a.close();
    await b.close();
  }
});

void test('rotation: the new key signs, the previous one verifies until its tokens have expired, then drops out', async () => {
  await withStore(async (store) => {
    let clock = Date.UTC(2025, 0, 15, 12);
    const now = (): number => clock;
    const grace = 3_900_000;
    const before = await KeyRing.open(store, { now });
    const oldToken = await signWith(before.signing());

    clock += 60_000;
    const rotated = await KeyRing.open(store, { now, rotate: true });
    assert.notEqual(rotated.signing().kid, before.signing().kid);
    assert.deepEqual(kids(rotated.publicKeys()), [before.signing().kid, rotated.signing().kid].sort());
    assert.equal(await verifies(oldToken, rotated.publicKeys()), true);
    const rows = await store.listSigningKeys();
    assert.deepEqual(rows.map((r) => [r.kid, r.retiredAt]), [[before.signing().kid, clock], [rotated.signing().kid, null]]);

    // an instance that started before the rotation picks it up on reload
    assert.equal(await before.reload(true), true);
    assert.equal(before.signing().kid, rotated.signing().kid);

    clock += grace - 1;
    await rotated.reload(true);
    assert.equal(await verifies(oldToken, rotated.publicKeys()), true, 'still within the grace');
    clock += 2;
    await rotated.reload(true);
    assert.deepEqual(kids(rotated.publicKeys()), [rotated.signing().kid]);
    assert.equal(await verifies(oldToken, rotated.publicKeys()), false);
    // a plain start (no rotation) keeps the active key
    assert.equal((await KeyRing.open(store, { now })).signing().kid, rotated.signing().kid);
  });
});

void test('reloads on demand are rate-limited (a stream of unknown key ids is not a stream of store reads)', async () => {
  await withStore(async (store) => {
    let reads = 0;
    const counting = {
      transaction: store.transaction.bind(store),
      listSigningKeys: () => {
        reads++;
        return store.listSigningKeys();
      },
    };
    const ring = await KeyRing.open(counting, { reloadMinIntervalMs: 200 });
    const start = reads;
    const results = await Promise.all(Array.from({ length: 20 }, () => ring.reload()));
    assert.deepEqual(results, Array<boolean>(20).fill(false));
    assert.equal(reads - start, 0, 'the ring was loaded just now');
    await new Promise((r) => setTimeout(r, 250));
    const again = await Promise.all(Array.from({ length: 20 }, () => ring.reload()));
    assert.deepEqual(again, Array<boolean>(20).fill(false), 'nothing changed');
    assert.equal(reads - start, 1, 'one read for twenty calls');
    await ring.reload(true);
    assert.equal(reads - start, 2);
  });
});
