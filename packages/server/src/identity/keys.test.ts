import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { loadOrCreateSigningKey, SIGNING_KEY_FILE, type SigningKey } from './keys.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'partnerkit-keys-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const signWith = (key: SigningKey): Promise<string> =>
  new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey);

void test('the signing key persists in the data directory: a restart loads the same key and old tokens still verify', async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateSigningKey(dir);
    const token = await signWith(first);
    const second = await loadOrCreateSigningKey(dir);
    assert.equal(second.kid, first.kid);
    assert.deepEqual(second.publicJwk, first.publicJwk);
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [second.publicJwk] }), { algorithms: ['RS256'] });
    assert.equal(payload.sub, 'x');
  });
});

void test('the key file is a private JWK readable by its owner only (mode 0600), and no temporary file is left', async (t) => {
  if (process.platform === 'win32') {
    t.skip('POSIX file modes');
    return;
  }
  await withTempDir(async (dir) => {
    const key = await loadOrCreateSigningKey(dir);
    const file = join(dir, SIGNING_KEY_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const jwk = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.equal(jwk.kty, 'RSA');
    assert.equal(typeof jwk.d, 'string');
    assert.equal(jwk.kid, key.kid);
    assert.deepEqual(await readdir(dir), [SIGNING_KEY_FILE]);
  });
});

void test('a missing data directory is created', async () => {
  await withTempDir(async (dir) => {
    const nested = join(dir, 'a', 'b');
    const key = await loadOrCreateSigningKey(nested);
    assert.ok(existsSync(join(nested, SIGNING_KEY_FILE)));
    assert.equal((await loadOrCreateSigningKey(nested)).kid, key.kid);
  });
});

void test('kid is the RFC 7638 SHA-256 thumbprint and the public JWK carries no private member', async () => {
  const key = await loadOrCreateSigningKey(':memory:');
  const { n, e } = key.publicJwk;
  assert.ok(typeof n === 'string' && typeof e === 'string');
  const thumbprint = createHash('sha256').update(`{"e":"${e}","kty":"RSA","n":"${n}"}`).digest('base64url');
  assert.equal(key.kid, thumbprint);
  assert.deepEqual(key.publicJwk, { kty: 'RSA', n, e, kid: thumbprint, alg: 'RS256', use: 'sig' });
  assert.ok(n.length >= 342, 'at least a 2048-bit modulus');
});

void test(':memory: gives a fresh key each time and writes nothing', async () => {
  const a = await loadOrCreateSigningKey(':memory:');
  const b = await loadOrCreateSigningKey(':memory:');
  assert.notEqual(a.kid, b.kid);
  assert.ok(!existsSync(':memory:'));
});

void test('an unreadable key file is an error and is left as it was', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, SIGNING_KEY_FILE);
    await writeFile(file, '{"kty":"RSA","n":"abc"}', { mode: 0o600 });
    await assert.rejects(loadOrCreateSigningKey(dir), /does not hold an RSA private JWK/);
    await writeFile(file, 'not json', { mode: 0o600 });
    await assert.rejects(loadOrCreateSigningKey(dir), /not valid JSON/);
    assert.equal(await readFile(file, 'utf8'), 'not json');
  });
});
