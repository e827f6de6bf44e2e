/**
 * The end of the event loop's turn: once the I/O callbacks pending now have run (`setImmediate`), so that what they
 * start joins what waits here. One promise per turn, shared by everyone who waits in it.
 *
 * What waits for it: the SQLite store's group commit (the transactions of a turn commit together,
 * store/sqlite-driver.ts), requests to the PostgreSQL store that go together (one statement for a turn's reads,
 * store.ts), answers to reads, which leave together (http/pipeline.ts), and changes, which go on together from
 * there (http/pipeline.ts). A client that drives many connections from one thread (a load generator, a Node
 * program, a browser) then finds a turn's answers ready at once, instead of being woken for each; on the
 * benchmark's host that woke the client once per GET, and the kernel's share of a GET was a third of its time
 * (docs/performance.md, "Before and after").
 *
 * Work that the end of a turn sets going (the changes) may wait for the end of the turn too: for it, that is once
 * it has run as far as its promise jobs take it, in the same turn, not at the next turn's end. So the changes of a
 * turn commit together right after they have all run, before the loop polls for more I/O: waiting for the next
 * turn's end would keep their batch open while the next requests are read, and hold their answers back that long.
 */
import { signal, type Signal } from './signal.js';

let pending: Promise<void> | undefined;
/** True while the promise jobs that the end of a turn set going run (see `endOfTurn`). */
let ending = false;
let afterEnding: Signal | undefined;

function endEnding(): void {
  ending = false;
  const a = afterEnding;
  afterEnding = undefined;
  a?.resolve();
}

export function endOfTurn(): Promise<void> {
  if (ending) {
    // Asked by work the end of this turn set going: its end is when that work has run as far as it can.
    afterEnding ??= signal();
    return afterEnding.promise;
  }
  pending ??= new Promise<void>((resolve) => {
    setImmediate(() => {
      pending = undefined;
      ending = true;
      resolve();
      // A tick queued from a promise job runs once the whole microtask queue has drained.
      queueMicrotask(() => {
        process.nextTick(endEnding);
      });
    });
  });
  return pending;
}
