const Database = require('better-sqlite3');
const fs = require('fs');
const counts = new Map();
const S = Object.getPrototypeOf(new Database(':memory:').prepare('select 1'));
for (const m of ['all', 'run', 'get', 'iterate']) {
  const orig = S[m];
  S[m] = function (...a) { const t = process.hrtime.bigint(); try { return orig.apply(this, a); } finally { const k = m + ' ' + this.source.slice(0, 90); const c = counts.get(k) ?? [0, 0n]; c[0]++; c[1] += process.hrtime.bigint() - t; counts.set(k, c); } };
}
process.on('SIGUSR2', () => {
  let out = '----\n';
  for (const [k, [n, t]] of [...counts].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25)) out += `${String(n).padStart(8)} ${(Number(t) / n / 1000).toFixed(1).padStart(7)} us ${k}\n`;
  fs.appendFileSync('/tmp/pkb/stime.out', out);
  counts.clear();
});
