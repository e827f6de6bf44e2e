// Preloaded into a server by bench/garbage.mjs (`--import`). The first SIGUSR2 starts V8's GC profiler (each
// collection's heap spaces before and after it) and, when PK_BENCH_HEAP_SITES is 1, V8's sampling heap profiler,
// keeping the samples of objects that outlived the young generation (those a full collection frees, and those
// still alive); the second stops both and writes them to the file PK_BENCH_GC_PROFILE as JSON
// { gc: GCProfiler's result, heap: the sampling profile or null }. The main thread's collections only.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import process from 'node:process';
import { GCProfiler } from 'node:v8';

const file = process.env.PK_BENCH_GC_PROFILE;
const sites = process.env.PK_BENCH_HEAP_SITES === '1';
/** Mean bytes between two samples of the heap profiler. */
const SAMPLING_INTERVAL = 2048;

if (file !== undefined) {
  let profiler;
  let session;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (profiler === undefined) {
        if (sites) {
          session = new Session();
          session.connect();
          await session.post('HeapProfiler.startSampling', {
            samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false,
          });
        }
        profiler = new GCProfiler();
        profiler.start();
        return;
      }
      const gc = profiler.stop();
      const heap = session === undefined ? null : (await session.post('HeapProfiler.stopSampling')).profile;
      session?.disconnect();
      writeFileSync(file, JSON.stringify({ gc, heap }));
    })().catch((err) => {
      process.stderr.write(`gc-profile: ${String(err)}\n`);
    });
  });
}
