/**
 * Checkpoints of the SQLite store: off the main thread once the store is written to in earnest.
 *
 * In WAL mode every commit appends pages to the WAL, and a checkpoint copies them back into the database file and
 * syncs it. SQLite's automatic checkpoint runs on the connection that committed, right after its commit: on the
 * main thread, which serves no request meanwhile (tens of milliseconds for a few MiB, most of it waiting for the
 * disk), and every request of the next batches waits behind it.
 *
 * Here a worker thread with its own connection runs a PASSIVE checkpoint (it never blocks the writer or readers)
 * whenever batches have committed since its last one, at most every `intervalMs`. SQLite starts the WAL over from
 * its beginning when a write begins with the whole WAL copied; under steady writes that moment does not come by
 * itself, so once a checkpoint finds `restartFrames` frames or more, the checkpointer makes it:
 * 1. it asks the worker for another checkpoint at once, which copies what was written during the last one;
 * 2. then it pauses the writes (`pause`: the group commit opens no new batch; the event loop goes on, and requests
 *    read, check and wait meanwhile) and, once no batch is open, asks for a last one, which copies the little
 *    left and syncs; the writes go on when it has copied everything (or after `MAX_PAUSE_MS`), and the first of
 *    them starts the WAL over.
 * Before this the writer's own automatic checkpoint restarted the WAL, at `restartFrames` frames: it copied what
 * the worker had not yet copied and synced the WAL and the database file on the main thread, 10–30 ms in which
 * nothing was served, every 2 s under the seed PATCH (docs/performance.md, "Garbage"). The writer keeps it, at
 * twice `restartFrames`, in case the worker falls behind; if the worker stops, it does the whole work again, at
 * SQLite's default threshold. `journal_size_limit` trims the file back after a restart.
 *
 * The worker starts only when a checkpoint first finds more than `mainThreadFrames` frames in the WAL. Until then
 * the checkpoints, just as often, run on the writer itself: half a millisecond for a few frames, 5 ms at most.
 * Starting a thread costs some 60–95 ms of CPU on a slow machine (a Node environment of its own), which a service
 * starting on one core would otherwise spend before it is healthy (the schema and the signing key of an empty
 * store are some 70 frames, the demo data set about 100), and a store written a little never needs the thread.
 */
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { signal } from '../signal.js';

/** What the main thread asks the worker: a checkpoint, its end, or a read of the pages a statement reads (`warm`). */
export type CheckpointRequest = 'checkpoint' | 'close' | { warm: string; parameters: unknown[] };
/** A checkpoint's figures. */
export type CheckpointReport = { ok: true; busy: boolean; log: number; checkpointed: number } | { ok: false; code: string };
/** What the worker answers: a checkpoint's report, or `warmed`: the rows the read asked for gave (null: it failed). */
export type WorkerMessage = CheckpointReport | { warmed: number | null };
export interface CheckpointWorkerData {
  file: string;
  synchronous: 'NORMAL' | 'FULL';
}

export interface CheckpointerOptions {
  /** Frames (pages) in the WAL at which the writer checkpoints and the WAL starts over. */
  restartFrames?: number;
  /** Shortest time between two checkpoints (the worker's, or the writer's own before the worker starts). */
  intervalMs?: number;
  /**
   * Most frames a checkpoint on the writer itself may find in the WAL: the first that finds more starts the worker,
   * which does every checkpoint after it (0: the worker does every checkpoint).
   */
  mainThreadFrames?: number;
  /** The worker's module (tests give one that cannot start). */
  workerUrl?: URL;
}

/**
 * 16,384 frames: 64 MiB of WAL at SQLite's default page size. The writer's checkpoint at this size is the one
 * sync the main thread waits for; at 4,096 frames it came four times as often, and random users' PATCHes on the
 * 1 M-user store ran 3–11 % slower (docs/performance.md, 2026-12-06). A start after `kill -9` reads the WAL back:
 * 60 ms or so more at this size.
 */
export const RESTART_FRAMES = 16_384;
export const CHECKPOINT_INTERVAL_MS = 100;
/** Longest pause of the writes while the WAL is brought to its start (the writes go on after it regardless). */
export const MAX_PAUSE_MS = 250;
/**
 * Least time from the end of one pause to the start of the next unless a checkpoint has found the WAL shorter than
 * `restartFrames` in between (it started over). A restart can fail (a reader still using the old WAL); the next
 * checkpoint would then find the WAL as long as before, and without this it would pause the writes again at once.
 */
export const PAUSE_SPACING_MS = 1000;
/**
 * 128 frames: half a MiB at SQLite's default page size. A PASSIVE checkpoint of a WAL that size took about 5 ms on
 * the writer (its copy and two syncs), of a few frames 0.6 ms (docs/performance.md, 2026-12-07): under light writing
 * the main thread spends at most that per `intervalMs`, and more writing starts the thread.
 */
export const MAIN_THREAD_FRAMES = 128;
/** SQLite's own automatic checkpoint threshold, in frames. */
const SQLITE_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  private worker: Worker | undefined;
  private readonly intervalMs: number;
  private readonly mainThreadFrames: number;
  private readonly workerData: CheckpointWorkerData;
  /** The writer's own checkpoint statement, until the worker starts. */
  private checkpointHere: BetterSqlite3.Statement | undefined;
  private inFlight = false;
  /** Batches committed since the last checkpoint was asked for. */
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Settles once the worker has exited (at once when it never started). */
  private exited: Promise<void> = Promise.resolve();
  private readonly restartFrames: number;
  /** Where the WAL's restart stands: none under way, the catch-up checkpoint asked for, the writes paused. */
  private phase: 'none' | 'catchingUp' | 'paused' = 'none';
  /** While the writes are paused: settles when they may go on. */
  private paused: { promise: Promise<void>; resume: () => void; at: number; timer: NodeJS.Timeout; lastAsked: boolean } | undefined;
  /** When the last pause ended (`performance.now()`), and whether a checkpoint found the WAL short since. */
  private lastPauseEnd = -Infinity;
  private shortSincePause = true;
  /**
   * Figures for tests and benchmarks (`onWriter`: the checkpoints the writer ran itself; `pauses`: the times the
   * writes were paused for a restart, `restartsReady`: those that ended with the whole WAL copied,
   * `longestPauseMs`).
   */
  readonly stats = { checkpoints: 0, failures: 0, largestLog: 0, onWriter: 0, pauses: 0, restartsReady: 0, longestPauseMs: 0 };

  constructor(
    private readonly writer: BetterSqlite3.Database,
    private readonly opts: CheckpointerOptions = {},
  ) {
    const restartFrames = opts.restartFrames ?? RESTART_FRAMES;
    this.restartFrames = restartFrames;
    this.intervalMs = opts.intervalMs ?? CHECKPOINT_INTERVAL_MS;
    this.mainThreadFrames = opts.mainThreadFrames ?? MAIN_THREAD_FRAMES;
    const synchronous = writer.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'NORMAL';
    const pageSize = Number(writer.pragma('page_size', { simple: true }));
    writer.pragma(`wal_autocheckpoint = ${String(2 * restartFrames)}`);
    writer.pragma(`journal_size_limit = ${String(restartFrames * pageSize)}`);
    this.workerData = { file: writer.name, synchronous };
  }

  /** True once the worker was started (it may have stopped since): until then the writer checkpoints itself. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /**
   * A checkpoint on the writer, while the WAL is small: the same PASSIVE checkpoint the worker runs. One that finds
   * more than `mainThreadFrames` frames starts the worker for the next ones.
   */
  private checkpointOnWriter(): void {
    // Inside the writer's open batch a checkpoint cannot copy what the batch will add: the next commit asks again.
    if (this.writer.inTransaction) {
      this.dirty = true;
      return;
    }
    try {
      this.checkpointHere ??= this.writer.prepare('PRAGMA wal_checkpoint(PASSIVE)');
      const row = this.checkpointHere.get() as { busy: number; log: number; checkpointed: number };
      this.stats.onWriter++;
      this.noteCheckpoint({ ok: true, busy: row.busy !== 0, log: row.log, checkpointed: row.checkpointed });
      if (row.log > this.mainThreadFrames) this.start();
    } catch {
      // The writer hears of a failing disk through its own statements; the next commit asks again.
      this.stats.failures++;
    }
  }

  private noteCheckpoint(report: CheckpointReport): void {
    if (report.ok) {
      this.stats.checkpoints++;
      this.stats.largestLog = Math.max(this.stats.largestLog, report.log);
    } else {
      this.stats.failures++;
    }
  }

  private start(): Worker {
    const worker = new Worker(this.opts.workerUrl ?? new URL('./checkpoint-worker.js', import.meta.url), { workerData: this.workerData });
    this.worker = worker;
    // The worker never keeps the process alive; a closing store ends it (close()).
    worker.unref();
    worker.on('message', (report: WorkerMessage) => {
      if ('warmed' in report) {
        this.warming.shift()?.(report.warmed ?? undefined);
        return;
      }
      this.inFlight = false;
      this.noteCheckpoint(report);
      if (this.restartStep(report)) return;
      if (this.dirty) this.schedule();
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        // A worker that stopped by itself (it could not start, or failed): the writer's automatic checkpoint does
        // the whole work again, at SQLite's default threshold.
        if (!this.stopped && this.writer.open) this.writer.pragma(`wal_autocheckpoint = ${String(SQLITE_AUTOCHECKPOINT)}`);
        this.stopped = true;
        this.inFlight = false;
        this.endPause(false);
        for (const done of this.warming.splice(0)) done(undefined);
        resolve();
      });
    });
    // An error ends the worker (its 'exit' follows); the writer goes on checkpointing by itself.
    worker.on('error', () => undefined);
    return worker;
  }

  /** The reads asked of the worker (`warm`) and not yet over, oldest first: each settles the caller's wait. */
  private readonly warming: ((rows: number | undefined) => void)[] = [];

  /**
   * Runs the read-only statement `sql` on the worker's connection, off the main thread, so that the pages it reads
   * are in the system's page cache when a statement of the writer reads them next (the oldest replay records, before
   * they are purged: by then this machine has often dropped them from its cache, and the writer would wait for the
   * disk with the event loop blocked). Settles when the read is over, at once when the worker is not running (the
   * writes are then few) and when the read fails (the writer reads the pages itself). Answers how many rows the
   * read gave, or `undefined` when it did not run.
   */
  warm(sql: string, parameters: unknown[]): Promise<number | undefined> {
    const worker = this.worker;
    if (worker === undefined || this.stopped) return Promise.resolve(undefined);
    const { promise, resolve } = signal<number | undefined>();
    this.warming.push(resolve);
    worker.postMessage({ warm: sql, parameters } satisfies CheckpointRequest);
    return promise;
  }

  /** True while a checkpoint is due or running. */
  get busy(): boolean {
    return !this.stopped && (this.inFlight || this.dirty || this.timer !== undefined || this.paused !== undefined);
  }

  /**
   * While the writes are paused for the WAL's restart: settles when they may go on (the group commit awaits it
   * before it opens a batch).
   */
  get pause(): Promise<void> | undefined {
    return this.paused?.promise;
  }

  /** Called after each commit of the writer. */
  committed(): void {
    this.dirty = true;
    // The batch that was open when the writes were paused has committed: the last checkpoint may copy it all.
    if (this.phase === 'paused') {
      this.askLast();
      return;
    }
    if (!this.inFlight) this.schedule();
  }

  /** The restart's next step after a worker's report (see the top of this file); true when it took the report. */
  private restartStep(report: CheckpointReport): boolean {
    if (this.phase === 'none') {
      // A checkpoint that could not run (another one was under way: the writer's own) reports -1 frames.
      if (!report.ok || report.log < 0) return false;
      if (report.log < this.restartFrames) {
        this.shortSincePause = true;
        return false;
      }
      if (!this.shortSincePause && performance.now() - this.lastPauseEnd < PAUSE_SPACING_MS) return false;
      this.phase = 'catchingUp';
      this.ask();
      return true;
    }
    if (this.phase === 'catchingUp') {
      this.phase = 'paused';
      const { promise, resolve: resume } = signal();
      const timer = setTimeout(() => this.endPause(false), MAX_PAUSE_MS);
      timer.unref();
      this.paused = { promise, resume, at: performance.now(), timer, lastAsked: false };
      this.shortSincePause = false;
      this.stats.pauses++;
      // With no batch open the last checkpoint may start now; otherwise the open batch's commit starts it.
      if (!this.writer.inTransaction) this.askLast();
      return true;
    }
    // Paused: the last checkpoint's report lets the writes go on (the first of them starts the WAL over if it was
    // all copied); a report from before it was asked for asks for it.
    if (this.paused?.lastAsked === true) this.endPause(report.ok && !report.busy && report.log === report.checkpointed);
    else if (!this.writer.inTransaction) this.askLast();
    return true;
  }

  private askLast(): void {
    if (this.paused === undefined || this.paused.lastAsked || this.inFlight) return;
    this.paused.lastAsked = true;
    this.ask();
  }

  /** Asks the worker for a checkpoint now. */
  private ask(): void {
    if (this.stopped || this.worker === undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = false;
    this.inFlight = true;
    this.worker.postMessage('checkpoint' satisfies CheckpointRequest);
  }

  private endPause(ready: boolean): void {
    const p = this.paused;
    this.phase = 'none';
    if (p === undefined) return;
    this.paused = undefined;
    this.lastPauseEnd = performance.now();
    clearTimeout(p.timer);
    if (ready) this.stats.restartsReady++;
    this.stats.longestPauseMs = Math.max(this.stats.longestPauseMs, performance.now() - p.at);
    p.resume();
    if (this.dirty && !this.inFlight) this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight || this.stopped) return;
      this.dirty = false;
      if (this.worker === undefined && this.mainThreadFrames > 0) {
        this.checkpointOnWriter();
        return;
      }
      this.inFlight = true;
      (this.worker ?? this.start()).postMessage('checkpoint' satisfies CheckpointRequest);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Ends the worker (before the writer closes, which checkpoints what is left). */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.endPause(false);
    if (!this.stopped && this.worker !== undefined) {
      // Waiting for its exit keeps the process alive meanwhile.
      this.worker.ref();
      this.worker.postMessage('close' satisfies CheckpointRequest);
    }
    this.stopped = true;
    await this.exited;
  }
}
