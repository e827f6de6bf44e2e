/**
 * Test harness: the real service on an ephemeral port over real HTTP, on a temporary data directory, with the
 * demo data set and/or a seed, plus helpers to get tokens and to call the API. Also starts the built
 * `partnerkit-server` executable as a child process for crash and signal tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, type JWTPayload } from 'jose';
import { PartnerCenterAudience } from '@partnerkit/contract';
import { defaultConfig, type Config } from '../config.js';
import { loadOrCreateSigningKey } from '../identity/keys.js';
import { DEMO } from '../seed/demo.js';
import type { SeedFile } from '../seed/format.js';
import { startService, type RunningService, type StartOptions } from '../service.js';
import type { Store } from '../store/store.js';

export { DEMO, DEMO_IDS } from '../seed/demo.js';

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
}

export interface CallResult<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

export interface TokenOptions {
  username?: string;
  password?: string;
  clientId?: string;
  clientSecret?: string;
  tenant?: string;
  scope?: string;
}

export interface TestService {
  baseUrl: string;
  dataDir: string;
  store: Store;
  service: RunningService;
  /** App+User token by the password grant (default: the demo agent). */
  userToken(opts?: TokenOptions): Promise<string>;
  /** App-only token by the client-credentials grant. */
  appToken(opts?: TokenOptions): Promise<string>;
  /** Signs any claims with the service's own key (for tokens the issuer would never mint). */
  signToken(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  call<T = unknown>(method: string, path: string, opts?: CallOptions): Promise<CallResult<T>>;
  close(): Promise<void>;
}

export interface StartTestOptions {
  demo?: boolean;
  seed?: SeedFile | Record<string, unknown>;
  config?: Partial<Config>;
  now?: () => number;
  /** Keep the data directory after close (to restart on it). */
  dataDir?: string;
  /** A pino/Fastify logger configuration (default: silent). */
  logger?: StartOptions['logger'];
}

export async function startTestService(opts: StartTestOptions = {}): Promise<TestService> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'partnerkit-test-')));
  let seedFile: string | undefined;
  if (opts.seed) {
    seedFile = join(dataDir, `seed-${randomUUID()}.json`);
    await writeFile(seedFile, JSON.stringify(opts.seed));
  }
  const config: Config = {
    ...defaultConfig,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    demo: opts.demo ?? true,
    logLevel: 'silent',
    seedFile,
    ...opts.config,
  };
  const service = await startService(config, { ...(opts.now ? { now: opts.now } : {}), ...(opts.logger !== undefined ? { logger: opts.logger } : {}) });
  const baseUrl = service.baseUrl;

  async function call<T>(method: string, path: string, o: CallOptions = {}): Promise<CallResult<T>> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body: string | Buffer | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json: json as T };
  }

  async function token(form: Record<string, string>, tenant: string): Promise<string> {
    const res = await fetch(`${baseUrl}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await res.json()) as { access_token?: string; error_description?: string };
    if (res.status !== 200 || body.access_token === undefined) throw new Error(`token request failed: ${String(res.status)} ${body.error_description ?? ''}`);
    return body.access_token;
  }

  const key = await loadOrCreateSigningKey(dataDir);

  return {
    baseUrl,
    dataDir,
    store: service.store,
    service,
    call,
    userToken: (t = {}) =>
      token(
        {
          grant_type: 'password',
          client_id: t.clientId ?? DEMO.clientId,
          client_secret: t.clientSecret ?? DEMO.clientSecret,
          username: t.username ?? DEMO.username,
          password: t.password ?? DEMO.password,
          scope: t.scope ?? `${PartnerCenterAudience}/user_impersonation offline_access`,
        },
        t.tenant ?? DEMO.tenantId,
      ),
    appToken: (t = {}) =>
      token(
        {
          grant_type: 'client_credentials',
          client_id: t.clientId ?? DEMO.clientId,
          client_secret: t.clientSecret ?? DEMO.clientSecret,
          scope: t.scope ?? `${PartnerCenterAudience}/.default`,
        },
        t.tenant ?? DEMO.tenantId,
      ),
    signToken: (claims, header = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey),
    async close() {
      await service.close();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The built executable (run `npm run build` first; `npm test` does). */
export const SERVER_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  baseUrl: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `partnerkit-server` with `args` and waits for its "PartnerKit listening on" line. */
export async function spawnServer(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [SERVER_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${String(timeoutMs)} ms:\n${out}`)), timeoutMs);
    const onData = (): void => {
      const m = /PartnerKit listening on (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${String(code)} before listening:\n${out}`));
    });
  });
  return { proc, baseUrl, output: () => out, exited };
}
