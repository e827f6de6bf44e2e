#!/usr/bin/env node
// Bundles the built server (packages/server/dist, from `tsc -b`) into one file per entry point under
// packages/server/dist/bundle/: main.js (the executable: `npm start`, the bin, the test harness and the benchmarks
// run it) and checkpoint-worker.js (the SQLite checkpoint thread, which the bundled store starts from beside
// main.js). Starting one file instead of some 1,400 modules takes less than half the time. better-sqlite3 (a
// native addon) and pg-native (an optional addon of pg) stay outside: they are loaded from node_modules.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = fileURLToPath(new URL('../packages/server/dist/', import.meta.url));

// Fastify's validator compiler, its serializer compiler and ajv-formats each need ajv 8, which npm installs three
// times under them (the top-level ajv is eslint's ajv 6). Bundled as they are, the three copies would each be loaded
// at start (some 25 ms apiece); when they are the same version, the bundle holds that version once.
const AJV_COPIES = [
  'node_modules/@fastify/ajv-compiler/node_modules/ajv',
  'node_modules/fast-json-stringify/node_modules/ajv',
  'node_modules/ajv-formats/node_modules/ajv',
];
const version = (dir) => {
  try {
    return JSON.parse(readFileSync(`${root}${dir}/package.json`, 'utf8')).version;
  } catch {
    return undefined;
  }
};
const ajvVersions = new Set(AJV_COPIES.map(version).filter((v) => v !== undefined));
const alias = ajvVersions.size === 1 ? { ajv: `./${AJV_COPIES.find((d) => version(d) !== undefined)}` } : {};
const outdir = `${dist}bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  alias,
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
