/** Flags and environment twins of partnerkit-server (contract section 4). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, USAGE, defaultConfig, parseConfig, parseThrottle } from './config.js';

const parse = (argv: string[], env: Record<string, string> = {}): ReturnType<typeof parseConfig> => parseConfig(argv, env);

function refused(argv: string[], env: Record<string, string>, message: RegExp): void {
  assert.throws(() => parse(argv, env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('defaults', () => {
  test('no flags and no environment give the documented defaults', () => {
    const { config, help } = parse([]);
    assert.equal(help, false);
    assert.deepEqual(config, defaultConfig);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, './.partnerkit');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.seedFile, undefined);
    assert.equal(config.demo, false);
    assert.equal(config.tlsCert, undefined);
    assert.equal(config.tlsKey, undefined);
    assert.equal(config.requireMfa, true);
    assert.equal(config.throttle, undefined);
    assert.equal(config.userRetentionDays, 30);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.requestTimeoutSeconds, 30);
  });

  test('unrelated environment variables are ignored', () => {
    assert.deepEqual(parse([], { PATH: '/bin', PARTNERKIT: 'x', PARTNERKIT_UNKNOWN: 'y', PORT: '1' }).config, defaultConfig);
  });
});

describe('every flag of section 4', () => {
  test('each flag parses, as `--flag value` and as `--flag=value`', () => {
    const argv = [
      '--host', '0.0.0.0', '--port', '0', '--data-dir', ':memory:', '--database-url', 'postgres://u@db/pk',
      '--seed', 'seed.yaml', '--demo', '--tls-cert', 'cert.pem', '--tls-key', 'key.pem', '--no-require-mfa',
      '--throttle', '500/60s', '--user-retention-days', '7', '--log-level', 'debug',
      '--public-url', 'https://pk.example/', '--sqlite-synchronous', 'full', '--server-id', 'PK42',
      '--database-pool-size', '25', '--rotate-signing-key', '--request-timeout', '90',
    ];
    const a = parse(argv).config;
    const b = parse([
      '--host=0.0.0.0', '--port=0', '--data-dir=:memory:', '--database-url=postgres://u@db/pk', '--seed=seed.yaml', '--demo=true',
      '--tls-cert=cert.pem', '--tls-key=key.pem', '--require-mfa=false', '--throttle=500/60s', '--user-retention-days=7',
      '--log-level=debug', '--public-url=https://pk.example/', '--sqlite-synchronous=full', '--server-id=PK42',
      '--database-pool-size=25', '--rotate-signing-key=true', '--request-timeout=90',
    ]).config;
    for (const c of [a, b]) {
      assert.deepEqual(c, {
        host: '0.0.0.0', port: 0, dataDir: ':memory:', databaseUrl: 'postgres://u@db/pk', seedFile: 'seed.yaml', demo: true,
        tlsCert: 'cert.pem', tlsKey: 'key.pem', requireMfa: false, throttle: { limit: 500, windowMs: 60_000 },
        userRetentionDays: 7, logLevel: 'debug', publicUrl: 'https://pk.example', sqliteSynchronous: 'full', serverId: 'PK42',
        databasePoolSize: 25, rotateSigningKey: true, requestTimeoutSeconds: 90,
      });
    }
  });

  test('--require-mfa and --no-require-mfa, the last one winning', () => {
    assert.equal(parse(['--no-require-mfa']).config.requireMfa, false);
    assert.equal(parse(['--require-mfa']).config.requireMfa, true);
    assert.equal(parse(['--no-require-mfa', '--require-mfa']).config.requireMfa, true);
    assert.equal(parse(['--require-mfa', '--no-require-mfa']).config.requireMfa, false);
    assert.equal(parse(['--require-mfa=false']).config.requireMfa, false);
    assert.equal(parse(['--require-mfa=yes']).config.requireMfa, true);
  });

  test('--demo and --no-demo', () => {
    assert.equal(parse(['--demo']).config.demo, true);
    assert.equal(parse(['--demo', '--no-demo']).config.demo, false);
    assert.equal(parse(['--demo=0']).config.demo, false);
  });

  test('--port 0 picks a free port; the range is 0–65535', () => {
    assert.equal(parse(['--port', '0']).config.port, 0);
    assert.equal(parse(['--port', '65535']).config.port, 65535);
  });

  test('--throttle N/WINDOW with the units ms, s, m and h, or off', () => {
    assert.deepEqual(parse(['--throttle', '500/60s']).config.throttle, { limit: 500, windowMs: 60_000 });
    assert.deepEqual(parseThrottle('500/60s'), { limit: 500, windowMs: 60_000 });
    assert.deepEqual(parseThrottle('10/1m'), { limit: 10, windowMs: 60_000 });
    assert.deepEqual(parseThrottle('1000/1h'), { limit: 1000, windowMs: 3_600_000 });
    assert.deepEqual(parseThrottle('5/250ms'), { limit: 5, windowMs: 250 });
    assert.deepEqual(parseThrottle('5/30'), { limit: 5, windowMs: 30_000 });
    assert.equal(parse(['--throttle', '500/60s', '--throttle', 'off']).config.throttle, undefined);
  });

  test('--request-timeout in whole seconds from 0 (no limit) to 3600', () => {
    assert.equal(parse(['--request-timeout', '0']).config.requestTimeoutSeconds, 0);
    assert.equal(parse(['--request-timeout', '1']).config.requestTimeoutSeconds, 1);
    assert.equal(parse(['--request-timeout', '3600']).config.requestTimeoutSeconds, 3600);
  });

  test('every log level of pino', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) {
      assert.equal(parse(['--log-level', level]).config.logLevel, level);
    }
  });

  test('-h and --help ask for the usage, which lists every flag of section 4', () => {
    assert.equal(parse(['--help']).help, true);
    assert.equal(parse(['-h']).help, true);
    assert.equal(parse(['--port', '1', '-h']).help, true);
    for (const flag of ['--host', '--port', '--data-dir', '--database-url', '--database-pool-size', '--rotate-signing-key', '--seed', '--demo', '--tls-cert', '--tls-key', '--require-mfa', '--no-require-mfa', '--throttle', '--user-retention-days', '--log-level', '--request-timeout']) {
      assert.ok(USAGE.includes(flag), `usage lists ${flag}`);
    }
  });
});

describe('environment twins', () => {
  test('each flag has a PARTNERKIT_ twin', () => {
    const { config } = parse([], {
      PARTNERKIT_HOST: '::', PARTNERKIT_PORT: '9090', PARTNERKIT_DATA_DIR: '/var/pk', PARTNERKIT_DATABASE_URL: 'postgres://x',
      PARTNERKIT_SEED: '/etc/pk/seed.json', PARTNERKIT_DEMO: 'true', PARTNERKIT_TLS_CERT: 'c.pem', PARTNERKIT_TLS_KEY: 'k.pem',
      PARTNERKIT_REQUIRE_MFA: 'false', PARTNERKIT_THROTTLE: '100/10s', PARTNERKIT_USER_RETENTION_DAYS: '1',
      PARTNERKIT_LOG_LEVEL: 'warn', PARTNERKIT_PUBLIC_URL: 'http://h:1', PARTNERKIT_SQLITE_SYNCHRONOUS: 'FULL', PARTNERKIT_SERVER_ID: 'S1',
      PARTNERKIT_DATABASE_POOL_SIZE: '4', PARTNERKIT_ROTATE_SIGNING_KEY: 'yes', PARTNERKIT_REQUEST_TIMEOUT: '0',
    });
    assert.deepEqual(config, {
      host: '::', port: 9090, dataDir: '/var/pk', databaseUrl: 'postgres://x', seedFile: '/etc/pk/seed.json', demo: true,
      tlsCert: 'c.pem', tlsKey: 'k.pem', requireMfa: false, throttle: { limit: 100, windowMs: 10_000 }, userRetentionDays: 1,
      logLevel: 'warn', publicUrl: 'http://h:1', sqliteSynchronous: 'full', serverId: 'S1',
      databasePoolSize: 4, rotateSigningKey: true, requestTimeoutSeconds: 0,
    });
  });

  test('boolean twins take true/false, 1/0, yes/no, on/off; empty is false', () => {
    for (const [v, want] of [['1', true], ['TRUE', true], ['yes', true], ['on', true], ['0', false], ['false', false], ['No', false], ['off', false], ['', false]] as const) {
      assert.equal(parse([], { PARTNERKIT_DEMO: v }).config.demo, want, `PARTNERKIT_DEMO=${v}`);
      assert.equal(parse([], { PARTNERKIT_REQUIRE_MFA: v }).config.requireMfa, want, `PARTNERKIT_REQUIRE_MFA=${v}`);
    }
  });

  test('flags beat their environment twins', () => {
    const env = { PARTNERKIT_PORT: '9090', PARTNERKIT_DEMO: 'true', PARTNERKIT_REQUIRE_MFA: 'false', PARTNERKIT_THROTTLE: '1/1s', PARTNERKIT_LOG_LEVEL: 'trace', PARTNERKIT_HOST: '0.0.0.0', PARTNERKIT_REQUEST_TIMEOUT: '5' };
    const { config } = parse(['--port', '0', '--no-demo', '--require-mfa', '--throttle', 'off', '--log-level', 'error', '--request-timeout', '0'], env);
    assert.equal(config.port, 0);
    assert.equal(config.demo, false);
    assert.equal(config.requireMfa, true);
    assert.equal(config.throttle, undefined);
    assert.equal(config.logLevel, 'error');
    assert.equal(config.requestTimeoutSeconds, 0);
    assert.equal(config.host, '0.0.0.0', 'a twin without a flag still applies');
  });
});

describe('bad values', () => {
  test('a bad value is refused with a ConfigError naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--port', 'http'], /^--port: .*"http"/],
      [['--port', '65536'], /^--port: /],
      [['--port', '-1'], /^--port/],
      [['--port', '80.5'], /^--port: /],
      [['--port='], /^--port/],
      [['--user-retention-days', 'thirty'], /^--user-retention-days: /],
      [['--user-retention-days', '99999'], /^--user-retention-days: /],
      [['--log-level', 'loud'], /^--log-level: .*loud/],
      [['--throttle', '500'], /^--throttle: .*500/],
      [['--throttle', '0/60s'], /^--throttle: /],
      [['--throttle', '500/0s'], /^--throttle: /],
      [['--throttle', '500/60d'], /^--throttle: /],
      [['--throttle', 'lots'], /^--throttle: /],
      [['--sqlite-synchronous', 'off'], /^--sqlite-synchronous: /],
      [['--database-url', 'mysql://db/pk'], /^--database-url: .*postgres:\/\//],
      [['--database-url', '/var/pk.db'], /^--database-url: /],
      [['--database-pool-size', '0'], /^--database-pool-size: /],
      [['--database-pool-size', 'many'], /^--database-pool-size: /],
      [['--request-timeout', '-1'], /^--request-timeout/],
      [['--request-timeout', '1.5'], /^--request-timeout: .*"1.5"/],
      [['--request-timeout', '30s'], /^--request-timeout: /],
      [['--request-timeout', '3601'], /^--request-timeout: /],
      [['--demo=maybe'], /^--demo: /],
      [['--tls-cert', 'c.pem'], /--tls-cert and --tls-key/],
      [['--tls-key', 'k.pem'], /--tls-cert and --tls-key/],
    ];
    for (const [argv, message] of cases) refused(argv, {}, message);
  });

  test('a flag without its value is refused, also when the next argument is another flag', () => {
    for (const flag of ['--port', '--host', '--data-dir', '--seed', '--throttle', '--log-level', '--request-timeout']) {
      refused([flag], {}, new RegExp(`^${flag} needs a value`));
      refused([flag, '--demo'], {}, new RegExp(`^${flag} needs a value`));
    }
    // a value that starts with dashes can still be given inline
    assert.equal(parse(['--data-dir=--odd']).config.dataDir, '--odd');
  });

  test('an unknown flag or a stray argument is refused, with the usage', () => {
    refused(['--bogus'], {}, /^unknown option --bogus[^]*Usage: partnerkit-server/);
    refused(['--no-port'], {}, /^unknown option --no-port/);
    refused(['--no-bogus'], {}, /^unknown option --no-bogus/);
    refused(['extra'], {}, /^unknown option extra/);
    refused(['-p', '80'], {}, /^unknown option -p/);
  });

  test('a bad environment value is refused with a message naming the variable and its flag', () => {
    refused([], { PARTNERKIT_PORT: 'eighty' }, /^PARTNERKIT_PORT \(--port\): .*"eighty"/);
    refused([], { PARTNERKIT_THROTTLE: 'fast' }, /^PARTNERKIT_THROTTLE \(--throttle\): /);
    refused([], { PARTNERKIT_LOG_LEVEL: 'chatty' }, /^PARTNERKIT_LOG_LEVEL \(--log-level\): /);
    refused([], { PARTNERKIT_REQUEST_TIMEOUT: 'never' }, /^PARTNERKIT_REQUEST_TIMEOUT \(--request-timeout\): .*"never"/);
    refused([], { PARTNERKIT_DEMO: 'maybe' }, /^PARTNERKIT_DEMO: /);
    refused([], { PARTNERKIT_REQUIRE_MFA: 'sometimes' }, /^PARTNERKIT_REQUIRE_MFA: /);
  });
});
