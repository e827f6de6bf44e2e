// Preloaded into a server by bench/tail.mjs (`--import`): appends each garbage collection the process makes to the
// file PK_BENCH_GC_FILE, one line per collection: its start (epoch ms), its pause (ms) and V8's kind of it.
import { appendFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.PK_BENCH_GC_FILE;
const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
if (file !== undefined) {
  new PerformanceObserver((list) => {
    const lines = list.getEntries().map((e) => {
      const kind = KINDS[e.detail?.kind] ?? String(e.detail?.kind);
      return `${(performance.timeOrigin + e.startTime).toFixed(2)} ${e.duration.toFixed(2)} ${kind}\n`;
    });
    appendFileSync(file, lines.join(''));
  }).observe({ entryTypes: ['gc'] });
}
