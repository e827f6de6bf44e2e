#!/usr/bin/env node
// Bundles the built server (packages/server/dist, from `tsc -b`) into one file per entry point under
// packages/server/dist/bundle/: main.js (the executable: `npm start`, the bin, the test harness and the benchmarks
// run it) and checkpoint-worker.js (the SQLite checkpoint thread, which the bundled store starts from beside
// main.js). Starting one file instead of some 1,400 modules takes less than half the time. better-sqlite3 (a
// native addon) and pg-native (an optional addon of pg) stay outside: they are loaded from node_modules.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = fileURLToPath(new URL('../packages/server/dist/', import.meta.url));
const outdir = `${dist}bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: `${dist}main.js`, 'checkpoint-worker': `${dist}store/checkpoint-worker.js` },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native'],
  // CommonJS dependencies call require() for Node's own modules; an ES module has none of its own.
  banner: { js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);" },
  logLevel: 'warning',
});
