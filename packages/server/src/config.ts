/**
 * Typed configuration of the service, its defaults, and the parser of command-line flags and their
 * environment twins. Pure: `main.ts` hands it `process.argv` and `process.env`.
 */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type SqliteSynchronous = 'normal' | 'full';

export interface ThrottleConfig {
  /** Requests allowed per window for one (partner, customer) pair. */
  limit: number;
  windowMs: number;
}

export interface Config {
  host: string;
  port: number;
  /** Directory of the SQLite database (which holds the signing keys), or `:memory:` to keep nothing. */
  dataDir: string;
  /** `postgres://…`: the PostgreSQL store instead of SQLite. */
  databaseUrl: string | undefined;
  /** Connections in the PostgreSQL pool. */
  databasePoolSize: number;
  /** At start, make a new signing key the active one; the previous one stays accepted until its tokens expire. */
  rotateSigningKey: boolean;
  seedFile: string | undefined;
  demo: boolean;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  requireMfa: boolean;
  throttle: ThrottleConfig | undefined;
  userRetentionDays: number;
  logLevel: LogLevel;
  /** Base URL the service is reached at; the identity endpoint's issuer is built from it. Default: the listen address. */
  publicUrl: string | undefined;
  /** SQLite `synchronous` pragma in WAL mode (see docs/configuration.md). */
  sqliteSynchronous: SqliteSynchronous;
  /** Identifier sent in `MS-ServerId`. */
  serverId: string;
  /**
   * Longest time a client may take to send a whole request (headers and body), in seconds; a slower one is answered
   * `408` and its connection closed. 0: no limit (Node's 60 s for the headers alone still holds).
   */
  requestTimeoutSeconds: number;
}

export const defaultConfig: Config = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './.partnerkit',
  databaseUrl: undefined,
  databasePoolSize: 10,
  rotateSigningKey: false,
  seedFile: undefined,
  demo: false,
  tlsCert: undefined,
  tlsKey: undefined,
  requireMfa: true,
  throttle: undefined,
  userRetentionDays: 30,
  logLevel: 'info',
  publicUrl: undefined,
  sqliteSynchronous: 'normal',
  serverId: 'PK000001',
  requestTimeoutSeconds: 30,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface FlagSpec {
  flag: string;
  env: string;
  kind: 'string' | 'boolean' | 'number';
  apply: (c: Config, v: string | boolean) => void;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseThrottle(text: string): ThrottleConfig {
  const m = /^(\d+)\/(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`--throttle: expected N/WINDOW such as 500/60s, got "${text}"`);
  const limit = Number(m[1]);
  const amount = Number(m[2]);
  const unit = m[3] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  if (limit < 1 || amount < 1) throw new ConfigError(`--throttle: limit and window must be positive, got "${text}"`);
  return { limit, windowMs: amount * factor };
}

function int(flag: string, v: string | boolean, min: number, max: number): number {
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) {
    throw new ConfigError(`${flag}: expected a whole number from ${String(min)} to ${String(max)}, got "${String(v)}"`);
  }
  return n;
}
const str = (v: string | boolean): string => String(v);

const FLAGS: FlagSpec[] = [
  { flag: '--host', env: 'PARTNERKIT_HOST', kind: 'string', apply: (c, v) => { c.host = str(v); } },
  { flag: '--port', env: 'PARTNERKIT_PORT', kind: 'number', apply: (c, v) => { c.port = int('--port', v, 0, 65535); } },
  { flag: '--data-dir', env: 'PARTNERKIT_DATA_DIR', kind: 'string', apply: (c, v) => { c.dataDir = str(v); } },
  {
    flag: '--database-url', env: 'PARTNERKIT_DATABASE_URL', kind: 'string',
    apply: (c, v) => {
      const url = str(v);
      if (url === '') { c.databaseUrl = undefined; return; }
      if (!/^postgres(ql)?:\/\//i.test(url)) throw new ConfigError('--database-url: expected a postgres://… or postgresql://… URL');
      c.databaseUrl = url;
    },
  },
  { flag: '--database-pool-size', env: 'PARTNERKIT_DATABASE_POOL_SIZE', kind: 'number', apply: (c, v) => { c.databasePoolSize = int('--database-pool-size', v, 1, 1000); } },
  { flag: '--rotate-signing-key', env: 'PARTNERKIT_ROTATE_SIGNING_KEY', kind: 'boolean', apply: (c, v) => { c.rotateSigningKey = v === true; } },
  { flag: '--seed', env: 'PARTNERKIT_SEED', kind: 'string', apply: (c, v) => { c.seedFile = str(v); } },
  { flag: '--demo', env: 'PARTNERKIT_DEMO', kind: 'boolean', apply: (c, v) => { c.demo = v === true; } },
  { flag: '--tls-cert', env: 'PARTNERKIT_TLS_CERT', kind: 'string', apply: (c, v) => { c.tlsCert = str(v); } },
  { flag: '--tls-key', env: 'PARTNERKIT_TLS_KEY', kind: 'string', apply: (c, v) => { c.tlsKey = str(v); } },
  { flag: '--require-mfa', env: 'PARTNERKIT_REQUIRE_MFA', kind: 'boolean', apply: (c, v) => { c.requireMfa = v === true; } },
  { flag: '--throttle', env: 'PARTNERKIT_THROTTLE', kind: 'string', apply: (c, v) => { c.throttle = str(v) === 'off' ? undefined : parseThrottle(str(v)); } },
  { flag: '--user-retention-days', env: 'PARTNERKIT_USER_RETENTION_DAYS', kind: 'number', apply: (c, v) => { c.userRetentionDays = int('--user-retention-days', v, 0, 3650); } },
  {
    flag: '--log-level', env: 'PARTNERKIT_LOG_LEVEL', kind: 'string',
    apply: (c, v) => {
      const level = LOG_LEVELS.find((l) => l === str(v));
      if (!level) throw new ConfigError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${str(v)}"`);
      c.logLevel = level;
    },
  },
  { flag: '--public-url', env: 'PARTNERKIT_PUBLIC_URL', kind: 'string', apply: (c, v) => { c.publicUrl = str(v).replace(/\/+$/, ''); } },
  {
    flag: '--sqlite-synchronous', env: 'PARTNERKIT_SQLITE_SYNCHRONOUS', kind: 'string',
    apply: (c, v) => {
      const s = str(v).toLowerCase();
      if (s !== 'normal' && s !== 'full') throw new ConfigError(`--sqlite-synchronous: expected normal or full, got "${str(v)}"`);
      c.sqliteSynchronous = s;
    },
  },
  { flag: '--server-id', env: 'PARTNERKIT_SERVER_ID', kind: 'string', apply: (c, v) => { c.serverId = str(v); } },
  { flag: '--request-timeout', env: 'PARTNERKIT_REQUEST_TIMEOUT', kind: 'number', apply: (c, v) => { c.requestTimeoutSeconds = int('--request-timeout', v, 0, 3600); } },
];

export const USAGE = `Usage: partnerkit-server [options]

  --host ADDR                listen address (default 127.0.0.1)
  --port N                   port; 0 picks a free one (default 8080)
  --data-dir DIR             SQLite database (with the signing keys); :memory: keeps nothing (default ./.partnerkit)
  --database-url URL         postgres://… : use PostgreSQL instead of SQLite (several instances may share it)
  --database-pool-size N     PostgreSQL connections per instance (default 10)
  --rotate-signing-key       make a new token signing key at start; the previous one stays valid until its tokens expire
  --seed FILE                load a seed file (JSON or YAML) at start; never overwrites what exists
  --demo                     load the built-in demo data set when the store is empty and print sign-in details
  --tls-cert FILE --tls-key FILE   serve HTTPS
  --require-mfa / --no-require-mfa  App+User tokens must carry amr=mfa (default on)
  --throttle N/WINDOW        e.g. 500/60s: limit per (partner, customer); off by default
  --user-retention-days N    soft-delete retention (default 30)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default info)
  --public-url URL           base URL clients use (token issuer); default: the listen address
  --sqlite-synchronous MODE  normal|full (default normal; see docs/configuration.md)
  --server-id ID             value of the MS-ServerId header
  --request-timeout SECONDS  longest time to receive a whole request, else 408 and close; 0 = no limit (default 30)
  -h, --help                 show this help

Every flag has an environment twin: PARTNERKIT_<FLAG> (e.g. PARTNERKIT_PORT=0).
`;

function envBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${name}: expected true or false, got "${value}"`);
}

export interface ParsedArgs {
  config: Config;
  help: boolean;
}

/** Builds the configuration: defaults, then environment twins, then flags (flags win). */
export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedArgs {
  const config: Config = { ...defaultConfig };
  for (const spec of FLAGS) {
    const raw = env[spec.env];
    if (raw === undefined) continue;
    try {
      spec.apply(config, spec.kind === 'boolean' ? envBoolean(spec.env, raw) : raw);
    } catch (err) {
      // Name the variable the bad value came from, not only the flag it stands for.
      if (err instanceof ConfigError && err.message.startsWith(`${spec.flag}:`)) {
        throw new ConfigError(`${spec.env} (${spec.flag})${err.message.slice(spec.flag.length)}`);
      }
      throw err;
    }
  }
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help') { help = true; continue; }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name.startsWith('--no-')) {
      const spec = FLAGS.find((f) => f.flag === `--${name.slice(5)}` && f.kind === 'boolean');
      if (!spec) throw new ConfigError(`unknown option ${arg}\n\n${USAGE}`);
      spec.apply(config, false);
      continue;
    }
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`unknown option ${arg}\n\n${USAGE}`);
    if (spec.kind === 'boolean') {
      spec.apply(config, inline === undefined ? true : envBoolean(name, inline));
      continue;
    }
    const value = inline ?? argv[++i];
    // `--seed --demo` means a forgotten value, not a seed file called "--demo" (`--seed=--demo` still works).
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new ConfigError(`${name} needs a value`);
    spec.apply(config, value);
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together');
  }
  return { config, help };
}
