/** Fixed-window request limits per (partner, customer), in process memory. */
import { PartnerKitError } from '../errors.js';
import type { ThrottleConfig } from '../config.js';

export class Throttle {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly cfg: ThrottleConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request; throws 429 with the seconds until the window resets when over the limit. */
  take(partnerId: string, customerId: string): void {
    const key = `${partnerId}|${customerId}`;
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.cfg.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 100_000) this.sweep(now);
    }
    w.count++;
    if (w.count > this.cfg.limit) {
      const seconds = Math.max(1, Math.ceil((w.start + this.cfg.windowMs - now) / 1000));
      throw new PartnerKitError('throttled', 'Rate limit is exceeded.', { retryAfterSeconds: seconds });
    }
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.cfg.windowMs) this.windows.delete(k);
  }
}
