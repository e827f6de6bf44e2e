/**
 * Smart lockout of the token endpoint, after Entra ID's: failed sign-ins are counted per (user, source address)
 * and per user, and client-secret failures per (client, source) and per client, in the store (instances sharing a
 * database share the counts). Before the threshold each further failure is answered a little later; at the
 * threshold the key is locked for a period that doubles with each lock, and a locked sign-in is refused with
 * AADSTS50053 without checking the password at all.
 *
 * Keyed per source so that an attacker who guesses at a user's password from one address locks only that
 * address out, not the real user signing in from another; the per-user count (a much higher threshold) catches
 * the same user hammered from many addresses, at the price of locking the real user out too while it lasts.
 * Unknown users are counted exactly like known ones: the lockout says nothing about which users exist.
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { StoreTx } from '../store/store.js';

/** The store queries the lockout needs. */
export type LockoutStore = Pick<StoreTx, 'signinLocks' | 'recordSigninFailure' | 'lockSignin' | 'clearSigninFailures' | 'purgeSigninFailures'>;

export interface LockoutPolicy {
  /** Failures of one (user or client, source) pair within `windowMs` that lock the pair. Entra's default: 10. */
  threshold: number;
  /** Failures of one user or client from any sources within `windowMs` that lock it everywhere. */
  globalThreshold: number;
  /** The window failures are counted in; a failure after it ends starts a new count. */
  windowMs: number;
  /** The first lock's length (Entra's default: 60 s); each further lock of the same key lasts twice as long. */
  lockMs: number;
  /** The longest lock. */
  maxLockMs: number;
  /** Failures of a pair answered at once; each further one waits `delayStepMs`, then twice that, … */
  freeFailures: number;
  /** 0 turns the delays off (tests). */
  delayStepMs: number;
  maxDelayMs: number;
  /** A key untouched this long, and not locked, is forgotten (its lock count with it). */
  retentionMs: number;
}

export const DEFAULT_LOCKOUT_POLICY: LockoutPolicy = {
  threshold: 10,
  globalThreshold: 100,
  windowMs: 10 * 60_000,
  lockMs: 60_000,
  maxLockMs: 60 * 60_000,
  freeFailures: 3,
  delayStepMs: 200,
  maxDelayMs: 2_000,
  retentionMs: 24 * 60 * 60_000,
};

export interface LockoutOptions {
  policy?: Partial<LockoutPolicy>;
  now?: () => number;
  /** How a delay is waited (a timer; never a busy wait). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The part of a source address that counts as one source: an IPv4 address; for IPv6, its /64 (one host holds a
 * whole /64, so counting single addresses would give it 2^64 tries).
 */
export function sourceOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

const digest = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url');

/** One sign-in attempt's subject: a user or client, as seen from one source. */
export class LockoutSubject {
  private pairSeen = false;

  constructor(
    private readonly lockout: SignInLockout,
    readonly pairKey: string,
    readonly globalKey: string,
  ) {}

  /** True when the pair or the user (client) as a whole is locked now. */
  async locked(): Promise<boolean> {
    const now = this.lockout.now();
    const rows = await this.lockout.store.signinLocks([this.pairKey, this.globalKey]);
    this.pairSeen = rows.some((r) => r.key === this.pairKey);
    return rows.some((r) => r.lockedUntil > now);
  }

  /** Counts a failure (pair and global), locks what reached its threshold, then waits the pair's delay. */
  async failed(): Promise<void> {
    const { store, policy } = this.lockout;
    const now = this.lockout.now();
    const pair = await store.recordSigninFailure(this.pairKey, now, policy.windowMs);
    const global = await store.recordSigninFailure(this.globalKey, now, policy.windowMs);
    if (pair.count >= policy.threshold) await store.lockSignin(this.pairKey, policy.threshold, now + this.lockout.lockLength(pair.lockouts), now);
    if (global.count >= policy.globalThreshold) {
      await store.lockSignin(this.globalKey, policy.globalThreshold, now + this.lockout.lockLength(global.lockouts), now);
    }
    const delay = this.lockout.delayAfter(pair.count);
    if (delay > 0) await this.lockout.sleep(delay);
  }

  /** A successful sign-in forgets the pair's failures (the per-user count runs out with its window). */
  async succeeded(): Promise<void> {
    if (this.pairSeen) await this.lockout.store.clearSigninFailures(this.pairKey);
  }
}

export class SignInLockout {
  readonly policy: LockoutPolicy;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly store: LockoutStore,
    opts: LockoutOptions = {},
  ) {
    this.policy = { ...DEFAULT_LOCKOUT_POLICY, ...opts.policy };
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? (async (ms) => { await sleepMs(ms); });
    const p = this.policy;
    if (!(p.threshold >= 1 && p.globalThreshold >= 1 && p.windowMs > 0 && p.lockMs > 0 && p.maxLockMs >= p.lockMs)) {
      throw new RangeError('lockout policy: thresholds, window and lock lengths must be positive');
    }
  }

  /** A partner user (known or not: the name as given) signing in with a password from `source`. */
  user(tenantId: string, username: string, source: string | undefined): LockoutSubject {
    const who = digest(`${tenantId.toLowerCase()}\n${username.toLowerCase()}`);
    return new LockoutSubject(this, `u:${who}:${digest(sourceOf(source))}`, `u:${who}`);
  }

  /** A confidential client authenticating with its secret from `source`. */
  client(clientId: string, source: string | undefined): LockoutSubject {
    const who = digest(clientId.toLowerCase());
    return new LockoutSubject(this, `c:${who}:${digest(sourceOf(source))}`, `c:${who}`);
  }

  /** The length of a key's next lock, after `lockouts` earlier ones: 60 s, 120 s, 240 s, … up to the cap. */
  lockLength(lockouts: number): number {
    return Math.min(this.policy.maxLockMs, this.policy.lockMs * 2 ** Math.min(lockouts, 30));
  }

  /** The wait before answering the `count`th failure of a pair in its window. */
  delayAfter(count: number): number {
    const { freeFailures, delayStepMs, maxDelayMs } = this.policy;
    if (delayStepMs <= 0 || count <= freeFailures) return 0;
    return Math.min(maxDelayMs, delayStepMs * 2 ** Math.min(count - freeFailures - 1, 30));
  }

  /** Forgets the keys untouched for the retention period whose lock has ended (the housekeeping sweep). */
  async purgeExpired(): Promise<void> {
    const now = this.now();
    await this.store.purgeSigninFailures(now - this.policy.retentionMs, now);
  }
}
