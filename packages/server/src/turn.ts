/**
 * The end of the event loop's turn: once the I/O callbacks pending now have run (`setImmediate`), so that what they
 * start joins what waits here. One promise per turn, shared by everyone who waits in it.
 *
 * What waits for it: the SQLite store's group commit (the transactions of a turn commit together,
 * store/sqlite-driver.ts), requests to the PostgreSQL store that go together (one statement for a turn's reads,
 * store.ts), and answers to reads, which leave together (http/pipeline.ts). A client that drives many
 * connections from one thread (a load generator, a Node program, a browser) then finds a turn's answers ready at
 * once, instead of being woken for each; on the benchmark's host that woke the client once per GET, and the
 * kernel's share of a GET was a third of its time (docs/performance.md, "Before and after").
 */
let pending: Promise<void> | undefined;

export function endOfTurn(): Promise<void> {
  pending ??= new Promise<void>((resolve) => {
    setImmediate(() => {
      pending = undefined;
      resolve();
    });
  });
  return pending;
}
