/**
 * MS-RequestId replay for POST, PATCH and DELETE: for 24 h a repeated (partner, MS-RequestId) with the same
 * request replays the stored answer without running the operation again; a different request with the same id
 * is refused (409 800004); a repeat that arrives while the first is running waits for it. The record is
 * written by the operation itself, inside its transaction (see `recordReplay`).
 */
import { createHash } from 'node:crypto';
import { PartnerKitError } from '../errors.js';
import type { IdempotencyRecord } from '../store/records.js';
import type { Store, StoreTx } from '../store/store.js';

export const REPLAY_WINDOW_MS = 24 * 3_600_000;

export interface IdempotencyTicket {
  partnerId: string;
  requestId: string;
  fingerprint: string;
  release: () => void;
}

export type IdempotencyOutcome = { replay: IdempotencyRecord } | { ticket: IdempotencyTicket };

export function fingerprint(method: string, url: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${url}\n${body === undefined ? '' : JSON.stringify(body)}`).digest('base64url');
}

export class IdempotencyGuard {
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(partnerId: string, requestId: string, print: string): Promise<IdempotencyOutcome> {
    const key = `${partnerId}\n${requestId}`;
    for (let running = this.inflight.get(key); running; running = this.inflight.get(key)) await running;
    // Claim the id before the first await below: a repeat arriving meanwhile must wait for this one, not race it
    // to the store (both would find no record and both would run the operation).
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = () => {
        if (this.inflight.get(key) === done) this.inflight.delete(key);
        resolve();
      };
    });
    this.inflight.set(key, done);
    try {
      const stored = await this.store.getIdempotency(partnerId, requestId);
      if (stored && stored.createdAt > this.now() - REPLAY_WINDOW_MS) {
        if (stored.fingerprint === print) {
          release();
          return { replay: stored };
        }
        throw new PartnerKitError('requestIdReused', 'The MS-RequestId was already used for a different request. Use a new MS-RequestId for each call.', {
          data: [{ header: 'MS-RequestId' }],
        });
      }
    } catch (err) {
      release();
      throw err;
    }
    return { ticket: { partnerId, requestId, fingerprint: print, release } };
  }

  /** Writes the replay record; called inside the operation's transaction. */
  async record(tx: StoreTx, ticket: IdempotencyTicket, status: number, headers: Record<string, string>, body: string): Promise<void> {
    await tx.putIdempotency({
      partnerId: ticket.partnerId, requestId: ticket.requestId, fingerprint: ticket.fingerprint,
      status, headers, body, createdAt: this.now(),
    });
  }

  async purgeExpired(): Promise<void> {
    await this.store.purgeIdempotency(this.now() - REPLAY_WINDOW_MS);
  }
}
