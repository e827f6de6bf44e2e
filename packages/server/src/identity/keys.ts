/**
 * The issuer's RS256 signing key. Kept as a private JWK in `${dataDir}/signing-key.json` (mode 0600) so
 * tokens stay valid across restarts; ephemeral when the data directory is `:memory:`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export const SIGNING_KEY_FILE = 'signing-key.json';
const ALG = 'RS256';

export interface SigningKey {
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  kid: string;
  privateKey: CryptoKey;
  /** The public half, as published in the JWKS: `kty`, `n`, `e`, `kid`, `alg: 'RS256'`, `use: 'sig'`. */
  publicJwk: JWK;
}

interface RsaPrivateJwk {
  kty: 'RSA';
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
}

const RSA_PRIVATE_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

function asRsaPrivateJwk(value: unknown): RsaPrivateJwk | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.kty !== 'RSA') return undefined;
  const out: Partial<Record<(typeof RSA_PRIVATE_MEMBERS)[number], string>> = {};
  for (const m of RSA_PRIVATE_MEMBERS) {
    const member = v[m];
    if (typeof member !== 'string' || member.length === 0) return undefined;
    out[m] = member;
  }
  const { n, e, d, p, q, dp, dq, qi } = out;
  if (n === undefined || e === undefined || d === undefined || p === undefined || q === undefined
    || dp === undefined || dq === undefined || qi === undefined) return undefined;
  return { kty: 'RSA', n, e, d, p, q, dp, dq, qi };
}

async function fromPrivateJwk(jwk: RsaPrivateJwk): Promise<SigningKey> {
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'sha256');
  const imported = await importJWK({ ...jwk, alg: ALG }, ALG, { extractable: false });
  if (imported instanceof Uint8Array) throw new Error('signing key: expected an RSA private key');
  return {
    kid,
    privateKey: imported,
    publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: ALG, use: 'sig' },
  };
}

async function generatePrivateJwk(): Promise<RsaPrivateJwk> {
  const { privateKey } = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
  const jwk = asRsaPrivateJwk(await exportJWK(privateKey));
  if (!jwk) throw new Error('signing key: key generation gave no RSA private JWK');
  return jwk;
}

/** Writes `data` to `file` atomically: a 0600 temporary file in the same directory, synced, then renamed. */
async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(tmp, 0o600); // whatever the umask did
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

const isNotFound = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT';

/**
 * Loads the signing key of `dataDir`, creating it on first use. `:memory:` gives a fresh key that is never
 * written anywhere. A key file that exists but cannot be read as an RSA private JWK is an error (it is
 * not replaced, since replacing it would invalidate every token issued so far).
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  if (dataDir === ':memory:') return fromPrivateJwk(await generatePrivateJwk());
  const file = join(dataDir, SIGNING_KEY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`signing key file ${file} is not valid JSON`);
    }
    const jwk = asRsaPrivateJwk(parsed);
    if (!jwk) throw new Error(`signing key file ${file} does not hold an RSA private JWK`);
    return fromPrivateJwk(jwk);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const jwk = await generatePrivateJwk();
  const key = await fromPrivateJwk(jwk);
  await writeFileAtomic(file, `${JSON.stringify({ ...jwk, kid: key.kid, alg: ALG, use: 'sig' }, null, 2)}\n`);
  return key;
}
