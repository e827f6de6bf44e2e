#!/usr/bin/env node
/**
 * partnerkit-server: flags and environment → configuration → start. The only file that reads process.env.
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError, USAGE, parseConfig } from './config.js';
import { startService } from './service.js';
import { SeedError } from './seed/format.js';

/**
 * V8 lets the old generation grow to up to four times what survived the last full collection before it collects
 * again (it picks the factor from its GC speed); under load most of that growth is garbage, and it is most of the
 * peak RSS. At twice, the peak under the benchmark's workloads fell from about 204 to 170 MiB at the same
 * throughput (docs/configuration.md, "Memory").
 * A value given on node's command line wins.
 */
const HEAP_GROWING_PERCENT = 100;

async function main(): Promise<void> {
  if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString(`--heap-growing-percent=${String(HEAP_GROWING_PERCENT)}`);
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`partnerkit-server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return;
  }
  const { config } = parsed;
  let service;
  try {
    service = await startService(config);
  } catch (err) {
    const message = err instanceof SeedError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`partnerkit-server: could not start: ${message}\n`);
    process.exit(1);
  }
  process.stdout.write(`PartnerKit listening on ${service.listenUrl}\n`);
  if (service.baseUrl !== service.listenUrl) process.stdout.write(`Public URL (token issuer): ${service.baseUrl}\n`);
  for (const notice of service.notices) process.stdout.write(`\n${notice}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ signal }, 'stopping: draining in-flight requests');
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        service.app.log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
