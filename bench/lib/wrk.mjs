// Runs wrk, pinned to the load generator's core, with bench/wrk/workload.lua, and reads its BENCH_JSON line.
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOADGEN_CORE, startPinned, tail } from './proc.mjs';

const SCRIPT = fileURLToPath(new URL('../wrk/workload.lua', import.meta.url));

/**
 * One wrk run: `threads` threads, `connections` connections, `seconds` long, against 127.0.0.1 only.
 * Returns { rps, requests, seconds, errors, non2xx, latency: {p50, p90, p99, p999, max, mean} in ms }.
 */
export async function runWrk({ baseUrl, workload, seconds, connections, threads = 1, env = {} }) {
  const url = new URL(baseUrl);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') {
    throw new Error(`refusing to load ${baseUrl}: the benchmark only targets loopback`);
  }
  const args = [
    `-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '2s', '--latency',
    '-s', SCRIPT, `${url.origin}/`,
  ];
  const handle = startPinned(LOADGEN_CORE, 'wrk', args, {
    env: { BENCH_MODE: workload, BENCH_RANDOM_SEED: String(randomInt(1, 2 ** 30)), ...env },
  });
  // wrk stops by itself after `seconds`; this bounds it even if it hangs (e.g. on a server that never answers).
  const limitMs = (seconds + 20) * 1000;
  const r = await Promise.race([handle.exited, sleep(limitMs).then(() => null)]);
  if (r === null) {
    await handle.stop(1000);
    throw new Error(`wrk did not finish within ${limitMs / 1000} s`);
  }
  const out = handle.output();
  const m = /BENCH_JSON (\{.*\})/.exec(out);
  if (!m) throw new Error(`wrk printed no result (exit ${String(r.code)}):\n${tail(out)}`);
  const j = JSON.parse(m[1]);
  const secs = j.duration_us / 1e6;
  const e = j.errors;
  const ms = (us) => Math.round(us) / 1000;
  return {
    rps: j.requests / secs,
    requests: j.requests,
    seconds: secs,
    errors: { connect: e.connect, read: e.read, write: e.write, timeout: e.timeout },
    /** Responses with a status of 400 or more (wrk counts those as "status" errors). */
    non2xx: e.status,
    latency: {
      mean: ms(j.latency_us.mean), p50: ms(j.latency_us.p50), p90: ms(j.latency_us.p90),
      p99: ms(j.latency_us.p99), p999: ms(j.latency_us.p999), max: ms(j.latency_us.max),
    },
  };
}

/** wrk's own version line. */
export function wrkVersionFrom(text) {
  return /wrk\s+(\S+)/.exec(text)?.[1] ?? text.trim().split('\n')[0];
}
