/**
 * The SQLite store's checkpoint thread (see checkpointer.ts): on each request, copies what the WAL holds back into
 * the database file with its own connection, and answers with SQLite's figures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { CheckpointReport, CheckpointRequest, CheckpointWorkerData, WorkerMessage } from './checkpointer.js';

const port = parentPort;
if (port === null) throw new Error('checkpoint-worker.js runs as a worker thread');
const { file, synchronous } = workerData as CheckpointWorkerData;
const db = new BetterSqlite3(file, { fileMustExist: true });
// The checkpoint syncs the WAL before copying and the database file after, as the writer's setting asks.
db.pragma(`synchronous = ${synchronous}`);
// Its reads ahead (`warm`) are for the operating system's cache, where the writer finds the pages; pages kept here
// would only take memory (better-sqlite3's default keeps up to 16 MB).
db.pragma('cache_size = -1024');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

/** Statements asked to be run for their reads (`warm`), prepared once each. */
const warmers = new Map<string, BetterSqlite3.Statement>();

port.on('message', (request: CheckpointRequest) => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  if (typeof request === 'object') {
    try {
      let stmt = warmers.get(request.warm);
      if (stmt === undefined) {
        stmt = db.prepare(request.warm);
        // Only reads: this connection must never take the write lock from the writer.
        if (!stmt.reader || !stmt.readonly) throw new Error('only a read-only query can warm pages');
        warmers.set(request.warm, stmt);
      }
      port.postMessage({ warmed: stmt.all(...request.parameters).length } satisfies WorkerMessage);
    } catch {
      // The writer reads the pages itself.
      port.postMessage({ warmed: null } satisfies WorkerMessage);
    }
    return;
  }
  let report: CheckpointReport;
  try {
    const row = checkpoint.get() as { busy: number; log: number; checkpointed: number };
    report = { ok: true, busy: row.busy !== 0, log: row.log, checkpointed: row.checkpointed };
  } catch (err) {
    // The writer hears of a failing disk through its own statements; the next request tries again.
    report = { ok: false, code: typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'unknown' };
  }
  port.postMessage(report);
});
