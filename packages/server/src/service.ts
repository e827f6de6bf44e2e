/**
 * The composition root: opens the store (SQLite, or PostgreSQL with `--database-url`) and its signing keys,
 * loads seed and demo data, builds the app and listens. `main.ts` calls it with flags; tests call it with a
 * temporary data directory.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { TokenIssuer } from './identity/issuer.js';
import { KeyRing } from './identity/keys.js';
import { SignInLockout, type LockoutPolicy } from './identity/lockout.js';
import { identityRoutes } from './identity/routes.js';
import { createTokenVerifier } from './identity/verify.js';
import { DEMO, DEMO_SEED, demoBanner } from './seed/demo.js';
import { formatSeedSummary, loadSeed, loadSeedFile } from './seed/load.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

export interface RunningService {
  app: FastifyInstance;
  store: Store;
  /** The token signing keys (in the store). */
  keys: KeyRing;
  /** The base URL clients use (`--public-url`, or the listen address). */
  baseUrl: string;
  /** The address the service listens on (the real port when `--port 0`). */
  listenUrl: string;
  /** Lines meant for a person at start (seed summary, demo sign-in details). */
  notices: string[];
  /** Drains in-flight requests, then closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: FastifyServerOptions['logger'];
  now?: () => number;
  /**
   * Smart lockout of the token endpoint (identity/lockout.ts): policy changes (e.g. `delayStepMs: 0` in tests),
   * or `false` for none. Default: on, with Entra's defaults.
   */
  lockout?: Partial<LockoutPolicy> | false;
}

const PURGE_INTERVAL_MS = 10 * 60_000;
const KEY_RELOAD_INTERVAL_MS = 60_000;

function listenUrl(config: Config, address: { address: string; port: number; family: string }): string {
  const scheme = config.tlsCert !== undefined ? 'https' : 'http';
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  if (address.family === 'IPv6' || host.includes(':')) host = `[${host}]`;
  return `${scheme}://${host}:${String(address.port)}`;
}

export async function startService(config: Config, opts: StartOptions = {}): Promise<RunningService> {
  const now = opts.now ?? Date.now;
  const store = await openStore(config);
  const notices: string[] = [];
  try {
    let listenBase = '';
    const issuerBase = (): string => config.publicUrl ?? listenBase;

    // Instances starting at once on one database take turns (the store's startup lock): the first creates the
    // signing key and loads the demo, the others find them there.
    const keys = await store.exclusive(async () => {
      const ring = await KeyRing.open(store, {
        // An upgraded SQLite data directory may still hold the key file of earlier versions: imported once.
        legacyDir: config.databaseUrl === undefined ? config.dataDir : undefined,
        rotate: config.rotateSigningKey,
        now,
      });
      if (config.demo && (await store.isEmpty())) {
        await loadSeed(store, DEMO_SEED);
      }
      if (config.seedFile !== undefined) {
        const summary = await loadSeedFile(store, config.seedFile);
        notices.push(`Seed ${config.seedFile}: ${formatSeedSummary(summary)}`);
      }
      return ring;
    });
    const lockout = opts.lockout === false ? undefined : new SignInLockout(store, { now, ...(opts.lockout ? { policy: opts.lockout } : {}) });
    const issuer = new TokenIssuer({ store, key: () => keys.signing(), issuerBase, now, lockout });
    const verifier = createTokenVerifier({
      issuerBase, store, now,
      keys: () => keys.publicKeys(),
      // A token signed with a key this instance has not seen: another instance may have rotated.
      onUnknownKey: () => keys.reload(),
    });

    const https = config.tlsCert !== undefined && config.tlsKey !== undefined
      ? { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) }
      : undefined;

    const { app, idempotency, users, throttle } = await buildApp({
      config, store, verifier, now,
      identity: (root) => identityRoutes(root, { issuer, publicKeys: () => keys.publicKeys(), issuerBase, store }),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(https ? { https } : {}),
    });

    store.onConnectionError((err) => app.log.warn({ err }, 'database connection error'));

    const purge = async (): Promise<void> => {
      try {
        await store.purgeExpiredUsers(users.purgeBefore());
        await idempotency.purgeExpired();
        await throttle?.purgeExpired();
        await lockout?.purgeExpired();
      } catch (err) {
        app.log.error({ err }, 'purge of expired users, replay records, throttling windows and sign-in failures failed');
      }
    };
    await purge();
    const timer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
    timer.unref();
    // Picks up a key rotated by another instance (and stops signing with a key it retired).
    const keyTimer = setInterval(() => {
      keys.reload(true).catch((err: unknown) => app.log.warn({ err }, 'reloading the signing keys failed'));
    }, KEY_RELOAD_INTERVAL_MS);
    keyTimer.unref();

    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
    listenBase = listenUrl(config, address);
    const baseUrl = config.publicUrl ?? listenBase;
    if (config.demo && (await store.findPartner(DEMO.tenantId))) notices.push(demoBanner(baseUrl));

    return {
      app, store, keys, baseUrl, listenUrl: listenBase, notices,
      async close() {
        clearInterval(timer);
        clearInterval(keyTimer);
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
