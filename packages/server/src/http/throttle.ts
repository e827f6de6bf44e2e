/**
 * Fixed-window request limits per (partner, customer). The counters live in the store, so instances sharing a
 * database share the limit; a window starts at its first request.
 */
import { PartnerKitError } from '../errors.js';
import type { ThrottleConfig } from '../config.js';
import type { StoreTx } from '../store/store.js';

/** The store queries the throttle needs. */
export type ThrottleStore = Pick<StoreTx, 'hitThrottle' | 'purgeThrottle'>;

export class Throttle {
  constructor(
    private readonly cfg: ThrottleConfig,
    private readonly store: ThrottleStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request; throws 429 with the seconds until the window resets when over the limit. */
  async take(partnerId: string, customerId: string): Promise<void> {
    const now = this.now();
    const w = await this.store.hitThrottle(`${partnerId}|${customerId}`, now, this.cfg.windowMs);
    if (w.count > this.cfg.limit) {
      const seconds = Math.max(1, Math.ceil((w.windowStart + this.cfg.windowMs - now) / 1000));
      throw new PartnerKitError('throttled', 'Rate limit is exceeded.', { retryAfterSeconds: seconds });
    }
  }

  /** Forgets the windows that have ended (the housekeeping sweep). */
  async purgeExpired(): Promise<void> {
    await this.store.purgeThrottle(this.now() - this.cfg.windowMs);
  }
}
