/**
 * The composition root: opens the store and the signing key, loads seed and demo data, builds the app and
 * listens. `main.ts` calls it with flags; tests call it with a temporary data directory.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { TokenIssuer } from './identity/issuer.js';
import { loadOrCreateSigningKey } from './identity/keys.js';
import { identityRoutes } from './identity/routes.js';
import { createTokenVerifier } from './identity/verify.js';
import { DEMO, DEMO_SEED, demoBanner } from './seed/demo.js';
import { formatSeedSummary, loadSeed, loadSeedFile } from './seed/load.js';
import { openSqliteStore } from './store/sqlite.js';
import type { Store } from './store/store.js';

export interface RunningService {
  app: FastifyInstance;
  store: Store;
  /** The base URL clients use (`--public-url`, or the listen address). */
  baseUrl: string;
  /** Lines meant for a person at start (seed summary, demo sign-in details). */
  notices: string[];
  /** Drains in-flight requests, then closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: FastifyServerOptions['logger'];
  now?: () => number;
}

const PURGE_INTERVAL_MS = 10 * 60_000;

function listenUrl(config: Config, address: { address: string; port: number; family: string }): string {
  const scheme = config.tlsCert !== undefined ? 'https' : 'http';
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  if (address.family === 'IPv6' || host.includes(':')) host = `[${host}]`;
  return `${scheme}://${host}:${String(address.port)}`;
}

export async function startService(config: Config, opts: StartOptions = {}): Promise<RunningService> {
  if (config.databaseUrl !== undefined) {
    throw new Error('--database-url: the PostgreSQL engine is not available in this version yet; run on the embedded SQLite store (--data-dir).');
  }
  const now = opts.now ?? Date.now;
  const store = await openSqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
  const notices: string[] = [];
  try {
    const key = await loadOrCreateSigningKey(config.dataDir);
    let listenBase = '';
    const issuerBase = (): string => config.publicUrl ?? listenBase;
    const issuer = new TokenIssuer({ store, key, issuerBase, now });
    const publicKeys = [key.publicJwk];
    const verifier = createTokenVerifier({ issuerBase, keys: () => publicKeys, store, now });

    if (config.demo && (await store.isEmpty())) {
      await loadSeed(store, DEMO_SEED);
    }
    if (config.seedFile !== undefined) {
      const summary = await loadSeedFile(store, config.seedFile);
      notices.push(`Seed ${config.seedFile}: ${formatSeedSummary(summary)}`);
    }
    const https = config.tlsCert !== undefined && config.tlsKey !== undefined
      ? { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) }
      : undefined;

    const { app, idempotency, users } = await buildApp({
      config, store, verifier, now,
      identity: (root) => identityRoutes(root, { issuer, key, issuerBase, store }),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(https ? { https } : {}),
    });

    const purge = async (): Promise<void> => {
      try {
        await store.purgeExpiredUsers(users.purgeBefore());
        await idempotency.purgeExpired();
      } catch (err) {
        app.log.error({ err }, 'purge of expired users and replay records failed');
      }
    };
    await purge();
    const timer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
    timer.unref();

    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
    listenBase = listenUrl(config, address);
    const baseUrl = config.publicUrl ?? listenBase;
    if (config.demo && (await store.findPartner(DEMO.tenantId))) notices.push(demoBanner(baseUrl));

    return {
      app, store, baseUrl, notices,
      async close() {
        clearInterval(timer);
        // server.close() reaps the connections idle at that moment; one whose request is still running turns
        // idle once it is answered, and would hold the drain open until its keep-alive timeout (72 s).
        const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await app.close();
        } finally {
          clearInterval(reaper);
        }
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
