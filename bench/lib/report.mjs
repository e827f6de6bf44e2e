// Turns a run's results into the goals check and the Markdown report.

const MiB = 2 ** 20;
export const mib = (bytes) => (bytes === undefined || bytes === null ? undefined : Math.round((bytes / MiB) * 10) / 10);

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The ceiling a workload's figure is divided by: bare node:http's PATCH figure for PATCH workloads, its GET
 * figure for GET workloads, and for the 80/20 mix the mix of the two (1 / (0.8/get + 0.2/patch)).
 */
export function ceilingFor(workload, ceiling) {
  if (workload === 'patch' || workload === 'patch-random') return ceiling.patch;
  if (workload === 'get' || workload === 'page') return ceiling.get;
  if (workload === 'mixed' && ceiling.get && ceiling.patch) return 1 / (0.8 / ceiling.get + 0.2 / ceiling.patch);
  return undefined;
}

const find = (rows, target, workload) => rows.find((r) => r.target === target && r.workload === workload && Number.isFinite(r.rps));

/**
 * Every goal of the issue, with the figure measured in this run and whether it is met (null: not measured), and
 * the same comparison made on CPU cost (requests per CPU-second of the target), which other load on the machine
 * disturbs far less than req/s.
 */
export function evaluateGoals(results) {
  const { rows, startup, plan } = results;
  const small = `pk-sqlite-${plan.smallLabel}`;
  const large = `pk-sqlite-${plan.largeLabel}`;
  const goals = [];
  const pct = (x) => `${(x * 100).toFixed(1)} %`;
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  const yes = (ok) => (ok ? 'yes' : 'no');
  const add = (goal, measured, met, cpu) => goals.push({ goal, measured, met, byCpu: cpu });
  /** A ratio goal: a / b ≥ min, by req/s and by req per CPU-second. */
  const ratio = (goal, a, b, min, asFactor) => {
    const show = (x) => (asFactor ? `${x.toFixed(2)}×` : pct(x));
    const x = a && b ? a.rps / b.rps : undefined;
    const y = a?.reqPerCpuSecond && b?.reqPerCpuSecond ? a.reqPerCpuSecond / b.reqPerCpuSecond : undefined;
    add(goal,
      x !== undefined ? `${show(x)} (${fmt(a.rps)} vs ${fmt(b.rps)} req/s)` : 'not measured',
      x !== undefined ? x >= min : null,
      y !== undefined ? `${show(y)} (${fmt(a.reqPerCpuSecond)} vs ${fmt(b.reqPerCpuSecond)} req/CPU-s): ${yes(y >= min)}` : '—');
  };
  /**
   * A ratio goal of a PartnerKit target (the small SQLite store unless named) against another target: judged on their
   * interleaved rounds when the run has them (run.mjs goalRounds: each round's ratio, then their median), else on
   * the rows.
   */
  const roundsRatio = (goal, workload, other, min, asFactor, pk = small) => {
    const a = find(rows, pk, workload);
    const b = find(rows, other, workload);
    const set = (results.goalRounds ?? []).find((x) => x.workload === workload && x.targets.includes(other) && x.targets.includes(pk));
    const rounds = (set?.rounds ?? []).filter((r) => r[pk] && r[other]);
    if (rounds.length === 0) {
      ratio(goal, a, b, min, asFactor);
      return;
    }
    const show = (x) => (asFactor ? `${x.toFixed(2)}×` : pct(x));
    const x = median(rounds.map((r) => r[pk].rps / r[other].rps));
    const y = median(rounds.map((r) => (r[pk].reqPerCpuSecond && r[other].reqPerCpuSecond ? r[pk].reqPerCpuSecond / r[other].reqPerCpuSecond : undefined)));
    const apart = a && b ? `; the rows, measured minutes apart: ${show(a.rps / b.rps)}` : '';
    const failed = rounds.reduce((n, r) => n + (r[pk].non2xx ?? 0) + (r[other].non2xx ?? 0), 0);
    add(`${goal} (interleaved rounds)`,
      `${show(x)} (median of ${String(rounds.length)} interleaved round${rounds.length === 1 ? '' : 's'}: ${rounds.map((r) => `${fmt(r[pk].rps)} vs ${fmt(r[other].rps)}`).join(', ')} req/s${apart}${failed > 0 ? `; ${String(failed)} answers ≥ 400 in the rounds` : ''})`,
      x >= min && failed === 0,
      y !== undefined ? `${show(y)} (median of the rounds' req/CPU-s ratios): ${yes(y >= min)}` : '—');
  };

  const pkPatch = find(rows, small, 'patch');
  roundsRatio(`seed PATCH on SQLite ≥ 30 % of the node:http ceiling (${plan.smallLabel} users)`, 'patch', 'node-http', 0.3);
  const patchRounds = (results.goalRounds ?? []).find((x) => x.workload === 'patch' && x.targets.includes(small));
  const roundP99 = patchRounds ? median(patchRounds.rounds.map((r) => r[small]?.p99Ms)) : undefined;
  add('seed PATCH on SQLite: p99 ≤ 10 ms at 50 connections',
    pkPatch ? `${pkPatch.p99Ms.toFixed(2)} ms${roundP99 !== undefined ? ` (${roundP99.toFixed(2)} ms in the interleaved rounds)` : ''}` : 'not measured', pkPatch ? pkPatch.p99Ms <= 10 : null, '—');
  roundsRatio('seed PATCH ≥ 2× WireMock on the same PATCH', 'patch', 'wiremock', 2, true);
  roundsRatio('seed PATCH ≥ 3× Prism on the same PATCH', 'patch', 'prism', 3, true);
  roundsRatio('GET one user ≥ 50 % of the ceiling', 'get', 'node-http', 0.5);
  const pkPage = find(rows, small, 'page');
  add('a page of 100 users ≥ 4,000 pages/s', pkPage ? `${fmt(pkPage.rps)} pages/s` : 'not measured', pkPage ? pkPage.rps >= 4000 : null,
    pkPage?.reqPerCpuSecond ? `${fmt(pkPage.reqPerCpuSecond)} pages per CPU-second: ${yes(pkPage.reqPerCpuSecond >= 4000)}` : '—');
  for (const w of ['patch', 'patch-random']) {
    const goal = `${w === 'patch' ? 'seed PATCH' : 'PATCH of a random user'} at ${plan.largeLabel} users ≥ 85 % of the figure at ${plan.smallLabel}`;
    const sp = (results.scalePairs ?? []).find((x) => x.workload === w && x.pairs.length > 0);
    if (sp === undefined) {
      ratio(goal, find(rows, large, w), find(rows, small, w), 0.85);
      continue;
    }
    // Measured in interleaved pairs (run.mjs scalePairs): each pair's ratio, then their median.
    const byRps = sp.pairs.map((p) => p.large.rps / p.small.rps);
    const byCpu = sp.pairs.map((p) => (p.large.reqPerCpuSecond && p.small.reqPerCpuSecond ? p.large.reqPerCpuSecond / p.small.reqPerCpuSecond : undefined));
    const x = median(byRps);
    const y = median(byCpu);
    const a = find(rows, large, w);
    const b = find(rows, small, w);
    const apart = a && b ? `; the rows, measured minutes apart: ${pct(a.rps / b.rps)}` : '';
    const failed = sp.pairs.reduce((n, p) => n + (p.small.non2xx ?? 0) + (p.large.non2xx ?? 0), 0);
    // A pair in which one side served less than a tenth of the other's requests measured a stall, not the stores.
    const stalled = sp.pairs.filter((p) => Math.min(p.small.rps, p.large.rps) < 0.1 * Math.max(p.small.rps, p.large.rps)).length;
    add(`${goal} (interleaved pairs)`,
      `${pct(x)} (median of ${String(sp.pairs.length)} interleaved pair${sp.pairs.length === 1 ? "" : "s"}: ${sp.pairs.map((p) => `${fmt(p.small.rps)} → ${fmt(p.large.rps)}`).join(', ')} req/s${apart}${failed > 0 ? `; ${String(failed)} answers ≥ 400 in the pairs` : ''}${stalled > 0 ? `; in ${String(stalled)} pair${stalled === 1 ? '' : 's'} one side served less than a tenth of the other's requests: a stall, so not met` : ''})`,
      x >= 0.85 && failed === 0 && stalled === 0,
      y !== undefined ? `${pct(y)} (median of the pairs' req/CPU-s ratios): ${yes(y >= 0.85)}` : '—');
  }
  for (const [engine, prefix] of [['SQLite', 'pk-sqlite-'], ['PostgreSQL', 'pk-pg-']]) {
    const pkRows = rows.filter((r) => r.target.startsWith(prefix) && r.rssMaxBytes);
    if (pkRows.length === 0) {
      add(`RSS ≤ 200 MiB under load (PartnerKit on ${engine})`, 'not measured', null, '—');
      continue;
    }
    const worst = pkRows.reduce((m, r) => (r.rssMaxBytes > m.rssMaxBytes ? r : m));
    add(`RSS ≤ 200 MiB under load (PartnerKit on ${engine}; largest sampled over its rows)`, `${mib(worst.rssMaxBytes)} MiB (${worst.target} ${worst.workload})`, worst.rssMaxBytes <= 200 * MiB, '—');
  }
  const empty = startup.find((s) => s.target === 'pk-sqlite' && s.store === 'empty');
  add('start to healthy ≤ 1 s on an empty store (SQLite)', empty ? `${Math.round(empty.medianMs)} ms` : 'not measured', empty ? empty.medianMs <= 1000 : null, '—');
  const big = startup.find((s) => s.target === 'pk-sqlite' && s.store === plan.largeLabel);
  add(`start to healthy ≤ 3 s on ${plan.largeLabel} users (SQLite)`, big ? `${Math.round(big.medianMs)} ms` : 'not measured', big ? big.medianMs <= 3000 : null, '—');
  const smallPg = `pk-pg-${plan.smallLabel}`;
  const pgGoal = 'on PostgreSQL, seed PATCH ≥ 80 % of the bare pg UPDATE … RETURNING baseline';
  if (find(rows, 'pg-baseline', 'patch') && !find(rows, smallPg, 'patch')) {
    add(pgGoal, `not measured: ${results.targets[smallPg]?.note ?? 'PartnerKit on PostgreSQL did not run'}`, null, '—');
  } else {
    roundsRatio(pgGoal, 'patch', 'pg-baseline', 0.8, false, smallPg);
  }
  const pgRandom = find(rows, `pk-pg-${plan.smallLabel}`, 'patch-random');
  const pgBaseRandom = find(rows, 'pg-baseline', 'patch-random');
  if (pgRandom && pgBaseRandom) {
    ratio('(for comparison, not a goal of its own) on PostgreSQL, PATCH of a random user ≥ 80 % of the baseline\'s', pgRandom, pgBaseRandom, 0.8);
  }
  return goals;
}

const num = (x, digits = 0) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function rowNotes(r) {
  const n = [...(r.notes ?? [])];
  if (r.runs?.length > 1) n.push(`runs ${r.runs.map((x) => num(x.rps)).join(' / ')}`);
  const errs = r.errors ? Object.entries(r.errors).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`) : [];
  if (errs.length) n.push(`socket errors: ${errs.join(', ')}`);
  if (r.non2xx) n.push(`${r.non2xx} answers ≥ 400`);
  if (r.walMaxBytes !== undefined) n.push(`WAL max ${num(mib(r.walMaxBytes), 1)} MiB, after ${num(mib(r.walAfterBytes), 1)} MiB`);
  if (r.diskReadBytes !== undefined) n.push(`${num(mib(r.diskReadBytes), 1)} MiB read from disk`);
  if (r.walMaxBytes > 256 * MiB) n.push('**the WAL grew past 256 MiB: automatic checkpoints are not keeping up (an unfinished statement?)**');
  return n.join('; ');
}

export function toMarkdown(results) {
  const { plan, machine, versions: v } = results;
  const out = [];
  out.push(`# PartnerKit benchmark — ${results.date}`);
  out.push('');
  out.push(`Mode **${results.mode}**${results.only ? ` (only ${results.only.join(', ')})` : ''}; commit \`${v.commit ?? 'unknown'}\`${v.serverTreeDirty ? ' (packages/ had uncommitted changes)' : ''}; took ${Math.round(results.durationSeconds)} s.`);
  out.push(`Plan: \`wrk -t${plan.threads} -c${plan.connections} -d${plan.seconds}s\`, ${plan.warmupSeconds} s warm-up, ${plan.runs} run(s), median req/s and median p99; servers on core ${plan.serverCore} (\`taskset -c ${plan.serverCore}\`), wrk on core ${plan.loadgenCore}; loopback only.`);
  out.push(`Machine: ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Linux ${machine.kernel}.`);
  out.push(`Ceiling (bare node:http, this run): PATCH ${num(results.ceiling.patch)} req/s, GET ${num(results.ceiling.get)} req/s.`);
  out.push(`Ceiling by CPU cost: PATCH ${num(results.ceilingCpu?.patch)} req/CPU-s, GET ${num(results.ceilingCpu?.get)} req/CPU-s. "req/CPU-s" is requests per CPU-second the target used (with its database's processes): what a request costs, which other load on the machine disturbs far less than req/s. "server CPU" is the share of a core the target got.`);
  out.push(`"other load" is the CPU that processes outside the benchmark used during the measured runs, in % of one core (largest over the runs); load average ${machine.loadavgBefore ?? '?'} at the start, ${machine.loadavgAfter ?? '?'} at the end.`);
  out.push('');
  out.push('| target | workload | users | req/s | × ceiling | req/CPU-s | × ceiling (CPU) | p50 ms | p99 ms | RSS MiB | server CPU | other load | notes |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results.rows) {
    const users = r.users === undefined ? '' : r.users.toLocaleString('en-US');
    if (!Number.isFinite(r.rps)) {
      out.push(`| ${r.target} | ${r.workload} | ${users} | — | — | — | — | — | — | — | — | — | ${(r.notes ?? []).join('; ')} |`);
      continue;
    }
    const share = (x) => (x === undefined ? '—' : `${num(x * 100, 1)} %`);
    out.push(`| ${r.target} | ${r.workload} | ${users} | ${num(r.rps)} | ${share(r.ratio)} | ${num(r.reqPerCpuSecond)} | ${share(r.cpuRatio)} | ${num(r.p50Ms, 2)} | ${num(r.p99Ms, 2)} | ${num(mib(r.rssMaxBytes), 0)} | ${num(r.targetCpuPct, 0)} % | ${num(r.otherCpuPct, 0)} % | ${rowNotes(r)} |`);
  }
  out.push('');
  out.push('## Goals');
  out.push('');
  out.push('| goal | measured | met | the same by CPU cost |');
  out.push('|---|---|---|---|');
  for (const g of results.goals) out.push(`| ${g.goal} | ${g.measured} | ${g.met === null ? 'not measured' : g.met ? 'yes' : '**no**'} | ${g.byCpu ?? '—'} |`);
  out.push('');
  for (const set of [...(results.goalRounds ?? []), ...(results.scalePairs ?? []).map((p) => ({ workload: p.workload, targets: [p.small, p.large], rounds: p.pairs.map((x) => ({ [p.small]: x.small, [p.large]: x.large })) }))]) {
    if (set.rounds.length === 0) continue;
    out.push(`### Interleaved: ${set.workload}, ${set.targets.join(' / ')}`);
    out.push('');
    // MiB read from disk, for the SQLite targets that measured it (a store whose pages left the page cache).
    const disk = new Set(set.targets.filter((t) => set.rounds.some((r) => r[t]?.diskReadBytes !== undefined)));
    out.push(`| round | ${set.targets.map((t) => `${t} req/s (req/CPU-s, p99 ms${disk.has(t) ? ', MiB read from disk' : ''})`).join(' | ')} |`);
    out.push(`|---|${set.targets.map(() => '---:').join('|')}|`);
    const cell = (t, x) => `${num(x.rps)} (${num(x.reqPerCpuSecond)}${x.p99Ms !== undefined ? `, ${num(x.p99Ms, 2)}` : ''}${disk.has(t) ? `, ${num(mib(x.diskReadBytes), 1)}` : ''})`;
    set.rounds.forEach((r, i) => out.push(`| ${String(i + 1)} | ${set.targets.map((t) => (r[t] ? cell(t, r[t]) : '—')).join(' | ')} |`));
    out.push('');
  }
  out.push('## Targets');
  out.push('');
  out.push('| target | status | start to healthy ms | peak RSS (VmHWM) MiB | notes |');
  out.push('|---|---|---:|---:|---|');
  for (const [name, t] of Object.entries(results.targets)) {
    out.push(`| ${name} | ${t.status} | ${num(t.startMs)} | ${num(mib(t.hwmBytes), 0)} | ${t.note ?? ''} |`);
  }
  out.push('');
  out.push('## Start to healthy (spawn → first `GET /healthz` 200)');
  out.push('');
  out.push('| target | store | runs ms | median ms |');
  out.push('|---|---|---|---:|');
  for (const s of results.startup) out.push(`| ${s.target} | ${s.store} | ${s.ms.map((x) => num(x)).join(' / ')} | ${num(s.medianMs)} |`);
  out.push('');
  out.push('## Data sets');
  out.push('');
  out.push('| data set | users | file MiB | built in s | bulk insert s | from cache | copied in s |');
  out.push('|---|---:|---:|---:|---:|---|---:|');
  for (const [name, d] of Object.entries(results.datasets)) {
    out.push(`| ${name} | ${num(d.users)} | ${num(mib(d.bytes), 0)} | ${num(d.buildMs / 1000, 1)} | ${num(d.insertMs / 1000, 1)} | ${d.cached ? 'yes' : 'no'} | ${d.copyMs === undefined ? '—' : num(d.copyMs / 1000, 1)} |`);
  }
  out.push('');
  out.push('## Versions');
  out.push('');
  for (const [k, val] of Object.entries(v)) if (val !== undefined) out.push(`- ${k}: ${String(val)}`);
  if (results.notes?.length) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const n of results.notes) out.push(`- ${n}`);
  }
  out.push('');
  return out.join('\n');
}
