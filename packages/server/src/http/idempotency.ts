/**
 * MS-RequestId replay for POST, PATCH and DELETE: for 24 h a repeated (partner, MS-RequestId) with the same
 * request replays the stored answer without running the operation again; a different request with the same id
 * is refused (409 800004); a repeat that arrives while the first is running waits for it, on whichever instance
 * it arrives. The answer is written by the operation itself, inside its transaction (`record`).
 */
import { hash, randomUUID } from 'node:crypto';
import { PartnerKitError } from '../errors.js';
import type { IdempotencyRecord } from '../store/records.js';
import { ReplayKeys, replayKeyHash } from '../store/replay-keys.js';
import { IDEMPOTENCY_PENDING, type Store, type StoreTx } from '../store/store.js';
import { signal, type Signal } from '../signal.js';

export const REPLAY_WINDOW_MS = 24 * 3_600_000;
/** A pending claim older than this is taken to belong to an instance that died: another request may take it over. */
export const STALE_CLAIM_MS = 60_000;
/** How often a repeat polls the store while another instance runs the first request. */
const POLL_MS = 20;
/** How long a repeat waits for the first request before giving up with 503 (the client may retry). */
const WAIT_MS = 30_000;

export interface IdempotencyTicket {
  partnerId: string;
  requestId: string;
  fingerprint: string;
  claimId: string;
  /** Set by `record` once the answer is written in the operation's transaction. */
  recorded: boolean;
  /**
   * Ends the claim once the request has been answered. Unless its answer was recorded (`record`) and committed
   * (`committed`: the request succeeded), the pending record is removed, so a repeat runs the request again.
   */
  release: (committed?: boolean) => Promise<void>;
}

export type IdempotencyOutcome = { replay: IdempotencyRecord } | { ticket: IdempotencyTicket };

/** The store queries the guard needs. */
export type IdempotencyStore = Pick<
  Store, 'sharedByProcesses' | 'claimIdempotency' | 'getIdempotency' | 'takeOverIdempotency' | 'releaseIdempotency' | 'purgeIdempotency'
>;

export function fingerprint(method: string, url: string, body: unknown): string {
  // crypto.hash, one call: half the cost of createHash().update().digest() on a short text (the same digest).
  return hash('sha256', `${method} ${url}\n${body === undefined ? '' : JSON.stringify(body)}`, 'base64url');
}

const reused = (): PartnerKitError =>
  new PartnerKitError('requestIdReused', 'The MS-RequestId was already used for a different request. Use a new MS-RequestId for each call.', {
    data: [{ header: 'MS-RequestId' }],
  });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Within one process, a repeat waits in memory for the first request with its id. Across processes:
 * - On a store several instances share (PostgreSQL), the store is the source of truth: the first request with an
 *   id inserts a pending record (insert-if-absent) and owns the id; its operation's transaction turns that record
 *   into the answer; a failed operation removes it. A repeat finds the answer (replay), a different request (409),
 *   or a pending record with its own fingerprint: it polls until the answer is there or the record is gone (then
 *   it claims the id itself).
 * - On a store one process owns (SQLite, whose data directory is locked), the in-memory wait is the claim: a
 *   request looks for a committed answer, and its operation's transaction writes the answer (insert or replace).
 *   That saves a write and a commit per request. The store finds answers by key in memory there
 *   (store/replay-keys.ts), so a new id costs no read.
 */
export class IdempotencyGuard {
  /**
   * The (partner, MS-RequestId) pairs whose requests are under way in this process, by their hash. Typed arrays, not
   * a Map of the pairs: a long-lived Map that each request adds to and deletes from keeps its table in the old
   * generation, and in V8 each table it outgrows keeps the entries it held then, so the requests under way at
   * that moment outlive their request until the next full collection (docs/performance.md, "Garbage").
   */
  private readonly underWay = new ReplayKeys();
  /** Requests waiting for one under way with their hash to end (a repeat, or by chance a pair with the same hash). */
  private readonly waiting = new Map<number, Signal>();

  constructor(
    private readonly store: IdempotencyStore,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(partnerId: string, requestId: string, print: string): Promise<IdempotencyOutcome> {
    const h = replayKeyHash(partnerId, requestId);
    while (this.underWay.has(h)) await this.endOf(h);
    // Claim the id in this process before the first await below: a repeat arriving meanwhile waits for this one.
    this.underWay.add(h, 0);
    const finish = (): void => {
      this.underWay.remove(h, 0);
      const w = this.waiting.get(h);
      if (w !== undefined) {
        this.waiting.delete(h);
        w.resolve();
      }
    };
    try {
      const outcome = this.store.sharedByProcesses ? await this.claim(partnerId, requestId, print) : await this.lookUp(partnerId, requestId, print);
      if ('replay' in outcome) {
        finish();
        return outcome;
      }
      const claimId = outcome.claimId;
      let released = false;
      const release = async (committed = false): Promise<void> => {
        if (released) return;
        released = true;
        try {
          if (this.store.sharedByProcesses && !(committed && ticket.recorded)) await this.store.releaseIdempotency(partnerId, requestId, claimId);
        } catch {
          // The store is unreachable: the pending record is taken over once it is stale (STALE_CLAIM_MS).
        } finally {
          finish();
        }
      };
      const ticket: IdempotencyTicket = { partnerId, requestId, fingerprint: print, claimId, recorded: false, release };
      return { ticket };
    } catch (err) {
      finish();
      throw err;
    }
  }

  /** Settles when the request under way with this hash ends. */
  private endOf(h: number): Promise<void> {
    let w = this.waiting.get(h);
    if (w === undefined) {
      w = signal();
      this.waiting.set(h, w);
    }
    return w.promise;
  }

  /** One process owns the store: the stored answer, if any (a different request with the id is refused). */
  private async lookUp(partnerId: string, requestId: string, print: string): Promise<{ replay: IdempotencyRecord } | { claimId: string }> {
    const stored = await this.store.getIdempotency(partnerId, requestId);
    // A pending record (left by an older version that claimed in the store) or an expired answer is free to take.
    if (stored && stored.status !== IDEMPOTENCY_PENDING && stored.createdAt > this.now() - REPLAY_WINDOW_MS) {
      if (stored.fingerprint !== print) throw reused();
      return { replay: stored };
    }
    return { claimId: randomUUID() };
  }

  private async claim(partnerId: string, requestId: string, print: string): Promise<{ replay: IdempotencyRecord } | { claimId: string }> {
    const giveUpAt = performance.now() + WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && performance.now() > giveUpAt) {
        throw new PartnerKitError('unavailable', 'The first request with this MS-RequestId is still running. Try again later.', { retryAfterSeconds: 1 });
      }
      const claim = { partnerId, requestId, fingerprint: print, claimId: randomUUID(), createdAt: this.now() };
      if (await this.store.claimIdempotency(claim)) return { claimId: claim.claimId };
      const stored = await this.store.getIdempotency(partnerId, requestId);
      if (!stored) continue; // released meanwhile: claim it
      const now = this.now();
      const expired = stored.createdAt <= now - REPLAY_WINDOW_MS;
      const pending = stored.status === IDEMPOTENCY_PENDING;
      if (expired || (pending && stored.createdAt <= now - STALE_CLAIM_MS)) {
        if (await this.store.takeOverIdempotency(stored, claim)) return { claimId: claim.claimId };
        continue;
      }
      if (stored.fingerprint !== print) throw reused();
      if (!pending) return { replay: stored };
      await sleep(POLL_MS);
    }
  }

  /**
   * Turns the ticket's pending record into the answer; called inside the operation's transaction, so the answer
   * commits with the change. A claim that was taken over meanwhile (this instance was too slow) fails the
   * operation, which rolls back: the other request is the one that runs.
   */
  async record(tx: StoreTx, ticket: IdempotencyTicket, status: number, headers: Record<string, string>, body: string): Promise<void> {
    const { partnerId, requestId, fingerprint, claimId } = ticket;
    const createdAt = this.now();
    if (!this.store.sharedByProcesses) {
      // One literal, not `{ ...answer, fingerprint, claimId }`: in Node 20's V8 a literal that adds properties after
      // a spread gives each object a hidden class of its own once the code is warm, and every PATCH would leave one
      // in the old generation (docs/performance.md, "Garbage").
      await tx.saveIdempotency({ partnerId, requestId, fingerprint, status, headers, body, createdAt, claimId });
      ticket.recorded = true;
      return;
    }
    const answer = { partnerId, requestId, status, headers, body, createdAt };
    await tx.completeIdempotency(ticket.claimId, answer, () =>
      new PartnerKitError('unavailable', 'The request took too long and another attempt with its MS-RequestId took over. Try again.', { retryAfterSeconds: 1 }));
    ticket.recorded = true;
  }

  async purgeExpired(): Promise<void> {
    await this.store.purgeIdempotency(this.now() - REPLAY_WINDOW_MS);
  }
}
