/**
 * The issuer's RS256 signing keys. They live in the store (table `signing_keys`), so tokens stay valid across
 * restarts and every instance on one database verifies every other's tokens; a `:memory:` store makes a new key
 * at each start. `${dataDir}/signing-key.json`, where earlier versions kept the one key, is imported once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { SigningKeyRecord } from '../store/records.js';
import type { StoreTx } from '../store/store.js';

export const SIGNING_KEY_FILE = 'signing-key.json';
const ALG = 'RS256';

export interface SigningKey {
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  kid: string;
  privateKey: CryptoKey;
  /** The public half, as published in the JWKS: `kty`, `n`, `e`, `kid`, `alg: 'RS256'`, `use: 'sig'`. */
  publicJwk: JWK;
}

export interface RsaPrivateJwk {
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

const isNotFound = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT';

/** A fresh RS256 key (2048-bit RSA) that is stored nowhere. */
export async function generateSigningKey(): Promise<SigningKey> {
  return fromPrivateJwk(await generatePrivateJwk());
}

/**
 * The private JWK of `${dataDir}/signing-key.json`, the file where versions before keys moved into the store
 * kept the key; undefined when there is no such file. A file that exists but cannot be read as an RSA private
 * JWK is an error (it is not replaced: replacing it would invalidate every token issued with it).
 */
export async function readSigningKeyFile(dataDir: string): Promise<RsaPrivateJwk | undefined> {
  const file = join(dataDir, SIGNING_KEY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`signing key file ${file} is not valid JSON`);
  }
  const jwk = asRsaPrivateJwk(parsed);
  if (!jwk) throw new Error(`signing key file ${file} does not hold an RSA private JWK`);
  return jwk;
}

/** The store queries the key ring needs. */
export interface KeyStore {
  transaction<T>(fn: (tx: Pick<StoreTx, 'listSigningKeys' | 'insertSigningKey' | 'retireSigningKeys'>) => Promise<T>): Promise<T>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
}

export interface KeyRingOptions {
  /** Import `${legacyDir}/signing-key.json` when the store has no active key yet (an upgraded SQLite data directory). */
  legacyDir?: string | undefined;
  /** Make a new key the active one now; the previous one is retired, and accepted until its tokens expire. */
  rotate?: boolean;
  /** How long a retired key still verifies tokens: the access-token lifetime plus leeway. Default 1 h + 5 min. */
  retiredKeyGraceMs?: number;
  /** Least time between two reloads from the store when a token names an unknown key. Default 1000 ms. */
  reloadMinIntervalMs?: number;
  /** Clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

interface RingSettings {
  retiredKeyGraceMs: number;
  reloadMinIntervalMs: number;
  now: () => number;
}

interface Loaded {
  signing: SigningKey;
  accepted: readonly JWK[];
  fingerprint: string;
}

/**
 * The issuer's keys, kept in the store so every instance on one database signs with the same active key and
 * verifies every other's tokens. The newest active key signs; every key not retired longer than the grace ago
 * verifies. `reload` picks up a rotation made by another instance (the service calls it periodically, and the
 * verifier when a token names a key it does not know).
 */
export class KeyRing {
  private lastReload: number;
  private reloading: Promise<boolean> | undefined;

  private constructor(
    private readonly store: KeyStore,
    private readonly opts: RingSettings,
    private readonly privateKeys: Map<string, Promise<SigningKey>>,
    private loaded: Loaded,
  ) {
    this.lastReload = performance.now();
  }

  /**
   * Opens the key ring of `store`: creates the first key (or imports the legacy key file) when the store has no
   * active key, rotates when asked. Run it under the store's startup lock when several instances may start at once.
   */
  static async open(store: KeyStore, options: KeyRingOptions = {}): Promise<KeyRing> {
    const opts = {
      retiredKeyGraceMs: options.retiredKeyGraceMs ?? 3_900_000,
      reloadMinIntervalMs: options.reloadMinIntervalMs ?? 1000,
      now: options.now ?? Date.now,
    };
    const rotate = options.rotate === true;
    const hasActive = async (): Promise<boolean> => (await store.listSigningKeys()).some((r) => r.retiredAt === null);
    if (rotate || !(await hasActive())) {
      const legacy = options.legacyDir !== undefined && options.legacyDir !== ':memory:' ? await readSigningKeyFile(options.legacyDir) : undefined;
      // Made before the transaction: RSA key generation takes a while.
      const fresh = await generatePrivateJwk();
      await store.transaction(async (tx) => {
        const rows = await tx.listSigningKeys();
        const active = rows.filter((r) => r.retiredAt === null);
        if (active.length > 0 && !rotate) return;
        const jwk = active.length === 0 && legacy ? legacy : fresh;
        const key = await fromPrivateJwk(jwk);
        const at = opts.now();
        await tx.insertSigningKey({
          kid: key.kid, privateJwk: JSON.stringify(jwk), publicJwk: JSON.stringify(key.publicJwk), createdAt: at, retiredAt: null,
        });
        await tx.retireSigningKeys(key.kid, at);
      });
    }
    const privateKeys = new Map<string, Promise<SigningKey>>();
    return new KeyRing(store, opts, privateKeys, await loadKeys(store, opts, privateKeys));
  }

  /** The key that signs new tokens. */
  signing(): SigningKey {
    return this.loaded.signing;
  }

  /** The public keys that verify tokens (the JWKS): the active ones and those retired less than the grace ago. */
  publicKeys(): readonly JWK[] {
    return this.loaded.accepted;
  }

  /**
   * Reads the keys from the store again; true when the set changed. At most once per `reloadMinIntervalMs`
   * unless `force`; concurrent calls share one read.
   */
  async reload(force = false): Promise<boolean> {
    if (this.reloading) return this.reloading;
    if (!force && performance.now() - this.lastReload < this.opts.reloadMinIntervalMs) return false;
    this.lastReload = performance.now();
    this.reloading = (async () => {
      try {
        const next = await loadKeys(this.store, this.opts, this.privateKeys);
        const changed = next.fingerprint !== this.loaded.fingerprint;
        this.loaded = next;
        return changed;
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }
}

/** Reads the key set: every key not retired longer than the grace ago verifies; the newest active one signs. */
async function loadKeys(store: KeyStore, opts: RingSettings, cache: Map<string, Promise<SigningKey>>): Promise<Loaded> {
  const rows = await store.listSigningKeys();
  const now = opts.now();
  const accepted = rows.filter((r) => r.retiredAt === null || r.retiredAt > now - opts.retiredKeyGraceMs);
  // Rows come oldest first. With no active key at all (retired by hand), the newest signs.
  const signingRow = [...rows].reverse().find((r) => r.retiredAt === null) ?? rows[rows.length - 1];
  if (!signingRow) throw new Error('signing keys: the store holds none');
  let signing = cache.get(signingRow.kid);
  if (!signing) {
    const jwk = asRsaPrivateJwk(JSON.parse(signingRow.privateJwk));
    if (!jwk) throw new Error(`signing key ${signingRow.kid} in the store is not an RSA private JWK`);
    signing = fromPrivateJwk(jwk);
    cache.set(signingRow.kid, signing);
  }
  const key = await signing;
  const publicJwks = accepted.map((r) => JSON.parse(r.publicJwk) as JWK);
  if (!accepted.includes(signingRow)) publicJwks.push(key.publicJwk);
  return { signing: key, accepted: publicJwks, fingerprint: `${publicJwks.map((k) => k.kid ?? '').join(',')}|${key.kid}` };
}
