import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import countries from 'i18n-iso-countries';
import type { RuleViolation } from './validation.js';
import {
  MAX,
  MAX_IMMUTABLE_ID,
  MAX_PHONE_NUMBER,
  PASSWORD_SYMBOLS,
  UPN_ALIAS_SYMBOLS,
  checkDisplayName,
  checkFirstName,
  checkImmutableId,
  checkLastName,
  checkPassword,
  checkPhoneNumber,
  checkState,
  checkUsageLocation,
  checkUserPrincipalName,
  normaliseUsageLocation,
  upnDomain,
} from './validation.js';

/** Reproducible property runs. */
const RUNS = { seed: 42, numRuns: 500 } as const;

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = LOWER.toUpperCase();
const DIGITS = '0123456789';
const ALIAS_CHARS = LOWER + UPPER + DIGITS + UPN_ALIAS_SYMBOLS;
const ALIAS_CHARS_NO_DOT = ALIAS_CHARS.replace('.', '');
const PASSWORD_CHARS = LOWER + UPPER + DIGITS + PASSWORD_SYMBOLS;

function expectViolation(
  result: RuleViolation | null,
  property: string,
  rule: string,
): RuleViolation {
  assert.ok(result !== null, `expected a violation of ${property}/${rule}, got none`);
  assert.equal(result.property, property);
  assert.equal(result.rule, rule);
  assert.ok(result.message.length > 0, 'message must not be empty');
  return result;
}

function charsOf(s: string): fc.Arbitrary<string> {
  return fc.constantFrom(...s.split(''));
}

function repeat(c: string, n: number): string {
  return c.repeat(n);
}

/** Inserts `insert` at position `index % (s.length + 1)` of `s`. */
function insertAt(s: string, index: number, insert: string): string {
  const i = index % (s.length + 1);
  return s.slice(0, i) + insert + s.slice(i);
}

// ---------------------------------------------------------------------------
// Arbitraries

/** Alias of 1-64 allowed characters: no leading/trailing dot, no "..". */
const aliasArb: fc.Arbitrary<string> = fc
  .array(fc.string({ unit: charsOf(ALIAS_CHARS_NO_DOT), minLength: 1, maxLength: 12 }), {
    minLength: 1,
    maxLength: 5,
  })
  .map((segments) => segments.join('.'))
  .filter((alias) => alias.length <= MAX.upnAlias);

const ALNUM = LOWER + UPPER + DIGITS;
const labelArb: fc.Arbitrary<string> = fc.oneof(
  charsOf(ALNUM),
  fc
    .tuple(
      charsOf(ALNUM),
      fc.string({ unit: charsOf(ALNUM + '-'), maxLength: 10 }),
      charsOf(ALNUM),
    )
    .map(([a, b, c]) => a + b + c),
);
const tldArb = fc.string({ unit: charsOf(LOWER + UPPER), minLength: 2, maxLength: 6 });

/** DNS-like domain of at least two labels, at most 48 characters. */
const domainArb: fc.Arbitrary<string> = fc
  .tuple(fc.array(labelArb, { minLength: 1, maxLength: 3 }), tldArb)
  .map(([labels, tld]) => [...labels, tld].join('.'))
  .filter((domain) => domain.length <= MAX.upnDomain);

const upnArb = fc.tuple(aliasArb, domainArb).map(([alias, domain]) => `${alias}@${domain}`);

/** One character that is neither an allowed alias character nor "@". */
const notUpnCharArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  )
  .filter((c) => c.length > 0 && ![...c].every((x) => ALIAS_CHARS.includes(x) || x === '@'));

const CLASSES = [LOWER, UPPER, DIGITS, PASSWORD_SYMBOLS] as const;

function classCount(password: string): number {
  return CLASSES.filter((cls) => [...password].some((c) => cls.includes(c))).length;
}

const validPasswordArb: fc.Arbitrary<string> = fc
  .string({ unit: charsOf(PASSWORD_CHARS), minLength: MAX.passwordMin, maxLength: MAX.passwordMax })
  .filter((p) => classCount(p) >= 3);

/** Passwords of valid length and characters that hit at most two classes. */
const weakPasswordArb: fc.Arbitrary<string> = fc
  .subarray([...CLASSES], { minLength: 1, maxLength: 2 })
  .chain((classes) =>
    fc.string({
      unit: charsOf(classes.join('')),
      minLength: MAX.passwordMin,
      maxLength: MAX.passwordMax,
    }),
  );

/** A single non-ASCII code point. */
const nonAsciiCharArb: fc.Arbitrary<string> = fc
  .integer({ min: 0x80, max: 0x10ffff })
  .map((cp) => String.fromCodePoint(cp));

// ---------------------------------------------------------------------------

describe('userPrincipalName', () => {
  const P = 'userPrincipalName';

  test('ordinary UPNs are accepted', () => {
    for (const upn of [
      'jane.doe@contoso.com',
      'a@b.co',
      "o'brien@contoso.onmicrosoft.com",
      'x-y_z!#^~@sub-domain.contoso.com',
      'John.Smith@Contoso.COM',
      '007@123.example.org',
    ]) {
      assert.equal(checkUserPrincipalName(upn), null, upn);
    }
  });

  test('an empty UPN is refused as required', () => {
    expectViolation(checkUserPrincipalName(''), P, 'required');
  });

  test('a UPN without "@" is refused', () => {
    expectViolation(checkUserPrincipalName('jane.contoso.com'), P, 'format');
  });

  test('a UPN with two "@" is refused', () => {
    expectViolation(checkUserPrincipalName('jane@doe@contoso.com'), P, 'format');
  });

  test('a UPN with an empty alias or empty domain is refused', () => {
    expectViolation(checkUserPrincipalName('@contoso.com'), P, 'format');
    expectViolation(checkUserPrincipalName('jane@'), P, 'format');
  });

  test('a UPN alias of 64 characters is accepted', () => {
    assert.equal(checkUserPrincipalName(`${repeat('a', 64)}@contoso.com`), null);
  });

  test('a UPN alias of 65 characters is refused', () => {
    expectViolation(checkUserPrincipalName(`${repeat('a', 65)}@contoso.com`), P, 'length');
  });

  test('a UPN domain of 48 characters is accepted and of 49 is refused', () => {
    const domain48 = `${repeat('d', 44)}.com`;
    assert.equal(domain48.length, 48);
    assert.equal(checkUserPrincipalName(`jane@${domain48}`), null);
    const domain49 = `${repeat('d', 45)}.com`;
    expectViolation(checkUserPrincipalName(`jane@${domain49}`), P, 'length');
  });

  test('a UPN of the maximum 113 characters is accepted', () => {
    const upn = `${repeat('a', 64)}@${repeat('d', 44)}.com`;
    assert.equal(upn.length, MAX.upn);
    assert.equal(checkUserPrincipalName(upn), null);
  });

  test('a UPN with an accented character is refused', () => {
    expectViolation(checkUserPrincipalName('josé@contoso.com'), P, 'characters');
    expectViolation(checkUserPrincipalName('jose@contosö.com'), P, 'characters');
  });

  test('a UPN alias with a space, comma, plus or other disallowed ASCII character is refused', () => {
    for (const c of [' ', ',', '+', '(', '"', '&', '$', '%', '*', '/', '=', '?', '`', '{', '|', '\t']) {
      expectViolation(checkUserPrincipalName(`ja${c}ne@contoso.com`), P, 'characters');
    }
  });

  test('a UPN alias starting with a period is refused', () => {
    expectViolation(checkUserPrincipalName('.jane@contoso.com'), P, 'format');
  });

  test('a period immediately before "@" is refused', () => {
    expectViolation(checkUserPrincipalName('jane.@contoso.com'), P, 'format');
  });

  test('two consecutive periods in the alias are refused', () => {
    expectViolation(checkUserPrincipalName('jane..doe@contoso.com'), P, 'format');
  });

  test('a domain that is not a DNS name is refused', () => {
    for (const domain of [
      'contoso',
      '-contoso.com',
      'contoso-.com',
      'contoso..com',
      '.contoso.com',
      'contoso.com.',
      'contoso.-com',
      '1.2.3.4',
    ]) {
      expectViolation(checkUserPrincipalName(`jane@${domain}`), P, 'format');
    }
  });

  test('a domain with an underscore or other symbol is refused', () => {
    expectViolation(checkUserPrincipalName('jane@con_toso.com'), P, 'characters');
    expectViolation(checkUserPrincipalName('jane@con!toso.com'), P, 'characters');
  });

  test('property: any alias of allowed characters (1-64, dots only inside) @ a valid domain is accepted', () => {
    fc.assert(
      fc.property(aliasArb, domainArb, (alias, domain) => {
        assert.equal(checkUserPrincipalName(`${alias}@${domain}`), null);
      }),
      RUNS,
    );
  });

  test('property: any UPN containing a character outside the allowed set is refused', () => {
    fc.assert(
      fc.property(upnArb, fc.nat(), notUpnCharArb, (upn, index, bad) => {
        const result = checkUserPrincipalName(insertAt(upn, index, bad));
        assert.ok(result !== null);
        assert.equal(result.property, P);
      }),
      RUNS,
    );
  });

  test('property: any UPN with an alias longer than 64 characters is refused for length', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charsOf(ALNUM), minLength: 65, maxLength: 120 }),
        domainArb,
        (alias, domain) => {
          expectViolation(checkUserPrincipalName(`${alias}@${domain}`), P, 'length');
        },
      ),
      RUNS,
    );
  });

  test('property: an alias with a leading dot, a trailing dot or ".." is refused', () => {
    fc.assert(
      fc.property(
        aliasArb.filter((a) => a.length <= MAX.upnAlias - 2),
        domainArb,
        fc.constantFrom('leading', 'trailing', 'double'),
        fc.nat(),
        (alias, domain, where, index) => {
          const broken =
            where === 'leading'
              ? `.${alias}`
              : where === 'trailing'
                ? `${alias}.`
                : insertAt(alias, index, '..');
          expectViolation(checkUserPrincipalName(`${broken}@${domain}`), P, 'format');
        },
      ),
      RUNS,
    );
  });
});

describe('upnDomain', () => {
  test('returns the lower-cased domain part', () => {
    assert.equal(upnDomain('Jane.Doe@Contoso.OnMicrosoft.COM'), 'contoso.onmicrosoft.com');
  });

  test('returns the empty string when there is no "@"', () => {
    assert.equal(upnDomain('jane.contoso.com'), '');
  });

  test('property: for any valid UPN, the domain is the lower-cased part after "@"', () => {
    fc.assert(
      fc.property(aliasArb, domainArb, (alias, domain) => {
        assert.equal(upnDomain(`${alias}@${domain}`), domain.toLowerCase());
      }),
      RUNS,
    );
  });
});

describe('password', () => {
  const P = 'passwordProfile.password';

  test('passwords meeting the policy are accepted', () => {
    for (const password of [
      'Passw0rd',
      'correct horse battery 9',
      'ALLCAPS-with-lower',
      'abc123!!',
      'Ab1@#$%^&*-_!+=[]{}|\\:\',.?/`~"();<> ',
      `Aa1${repeat('x', 253)}`,
    ]) {
      assert.equal(checkPassword(password), null, `length ${password.length}`);
    }
  });

  test('an empty password is refused as required', () => {
    expectViolation(checkPassword(''), P, 'required');
  });

  test('a password of 7 characters is refused and of 8 accepted', () => {
    expectViolation(checkPassword('Abcde1!'), P, 'length');
    assert.equal(checkPassword('Abcdef1!'), null);
  });

  test('a password of 257 characters is refused and of 256 accepted', () => {
    assert.equal(checkPassword(`Aa1${repeat('x', 253)}`), null);
    expectViolation(checkPassword(`Aa1${repeat('x', 254)}`), P, 'length');
  });

  test('a password with only two character classes is refused for complexity', () => {
    for (const password of ['abcdefgh', 'ABCDEFGH', '12345678', 'abcd1234', 'ABCD!!!!', 'abc defg']) {
      expectViolation(checkPassword(password), P, 'complexity');
    }
  });

  test('a space counts as a symbol', () => {
    assert.equal(checkPassword('abcd EFGH'), null);
  });

  test('a password with an accented letter, emoji or control character is refused', () => {
    for (const password of ['Passwörd1', 'Passw0rd😀', 'Pass\tw0rd', 'Pass\nw0rd', 'Passw0rd€', 'Pässword1!']) {
      expectViolation(checkPassword(password), P, 'characters');
    }
  });

  test('property: any 8-256 character password of allowed characters with at least 3 classes is accepted', () => {
    fc.assert(
      fc.property(validPasswordArb, (password) => {
        assert.equal(checkPassword(password), null);
      }),
      RUNS,
    );
  });

  test('property: any 8-256 character password of at most 2 classes is refused for complexity', () => {
    fc.assert(
      fc.property(weakPasswordArb, (password) => {
        expectViolation(checkPassword(password), P, 'complexity');
      }),
      RUNS,
    );
  });

  test('property: any password containing a non-ASCII character is refused', () => {
    fc.assert(
      fc.property(validPasswordArb, fc.nat(), nonAsciiCharArb, (password, index, bad) => {
        expectViolation(checkPassword(insertAt(password, index, bad)), P, 'characters');
      }),
      RUNS,
    );
  });

  test('property: any password shorter than 8 characters is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charsOf(PASSWORD_CHARS), minLength: 1, maxLength: 7 }),
        (password) => {
          expectViolation(checkPassword(password), P, 'length');
        },
      ),
      RUNS,
    );
  });

  test('property: a violation message never contains the password', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
          fc.string({ unit: charsOf(PASSWORD_CHARS), minLength: 1, maxLength: 300 }),
          fc.string({ unit: charsOf(LOWER + ' '), minLength: 1, maxLength: 20 }),
          weakPasswordArb,
        ),
        (password) => {
          const result = checkPassword(password);
          if (result !== null) {
            assert.ok(!result.message.includes(password), 'message contains the password');
          }
        },
      ),
      { seed: 42, numRuns: 2000 },
    );
  });

  test('a password that is part of a violation message is not echoed by its own message', () => {
    // Start from a few refused passwords, then try every substring of every message
    // seen as a password, until no new message appears.
    const seen = new Set<string>();
    const pending: string[] = [];
    for (const seed of ['a', 'abcdefgh', 'Pässword1', `Aa1${repeat('x', 254)}`]) {
      const result = checkPassword(seed);
      assert.ok(result !== null);
      pending.push(result.message);
    }
    let tried = 0;
    while (pending.length > 0) {
      const message = pending.pop();
      if (message === undefined || seen.has(message)) continue;
      seen.add(message);
      for (let start = 0; start < message.length; start++) {
        for (let end = start + 1; end <= message.length; end++) {
          const password = message.slice(start, end);
          const result = checkPassword(password);
          tried++;
          if (result === null) continue;
          assert.ok(
            !result.message.includes(password),
            `message for a substring of "${message}" contains it`,
          );
          if (!seen.has(result.message)) pending.push(result.message);
        }
      }
    }
    assert.ok(seen.size >= 4, 'expected several distinct messages');
    assert.ok(tried > 1000);
  });
});

describe('usageLocation', () => {
  const P = 'usageLocation';

  test('"us" normalises to "US" and "Us", "uS", "US" too', () => {
    for (const value of ['us', 'Us', 'uS', 'US']) {
      assert.equal(normaliseUsageLocation(value), 'US');
      assert.equal(checkUsageLocation(value), null);
    }
  });

  test('"USA", "XX", "U", "" and codes with whitespace are refused', () => {
    for (const value of ['USA', 'XX', 'U', '', ' US', 'US ', 'u s', '84', 'ÜS']) {
      assert.equal(normaliseUsageLocation(value), null, value);
    }
    expectViolation(checkUsageLocation(''), P, 'required');
    for (const value of ['USA', 'XX', 'U', '840', 'zz']) {
      expectViolation(checkUsageLocation(value), P, 'iso3166');
    }
  });

  test('every ISO 3166-1 alpha-2 code in lower case normalises to its upper case', () => {
    const codes = Object.keys(countries.getAlpha2Codes());
    assert.ok(codes.length >= 249);
    for (const code of codes) {
      assert.equal(normaliseUsageLocation(code.toLowerCase()), code.toUpperCase(), code);
      assert.equal(checkUsageLocation(code.toLowerCase()), null, code);
    }
  });

  test('property: any 3-letter string is refused', () => {
    fc.assert(
      fc.property(fc.string({ unit: charsOf(LOWER + UPPER), minLength: 3, maxLength: 3 }), (value) => {
        assert.equal(normaliseUsageLocation(value), null);
        expectViolation(checkUsageLocation(value), P, 'iso3166');
      }),
      RUNS,
    );
  });

  test('property: a 2-letter string is accepted exactly when it is an assigned alpha-2 code', () => {
    const codes = new Set(Object.keys(countries.getAlpha2Codes()));
    fc.assert(
      fc.property(fc.string({ unit: charsOf(LOWER + UPPER), minLength: 2, maxLength: 2 }), (value) => {
        const upper = value.toUpperCase();
        assert.equal(normaliseUsageLocation(value), codes.has(upper) ? upper : null);
      }),
      RUNS,
    );
  });

  test('property: any string that is not exactly two ASCII letters is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 6 }).filter((s) => !/^[A-Za-z]{2}$/.test(s)),
        (value) => {
          assert.equal(normaliseUsageLocation(value), null);
          assert.ok(checkUsageLocation(value) !== null);
        },
      ),
      RUNS,
    );
  });
});

describe('displayName', () => {
  const P = 'displayName';

  test('an ordinary display name is accepted', () => {
    assert.equal(checkDisplayName('Jane Doe'), null);
    assert.equal(checkDisplayName('Zoë Ångström'), null);
  });

  test('an empty or whitespace-only display name is refused', () => {
    for (const value of ['', ' ', '\t\n ', '\u00a0\u3000']) {
      expectViolation(checkDisplayName(value), P, 'required');
    }
  });

  test('a display name of 256 characters is accepted and of 257 refused', () => {
    assert.equal(checkDisplayName(repeat('n', 256)), null);
    expectViolation(checkDisplayName(repeat('n', 257)), P, 'length');
  });

  test('surrounding whitespace does not count towards the length', () => {
    assert.equal(checkDisplayName(`  ${repeat('n', 256)}  `), null);
  });

  test('the length counts code points, not UTF-16 code units', () => {
    // 256 emoji are 512 UTF-16 code units but 256 characters.
    assert.equal(checkDisplayName(repeat('😀', 256)), null);
    expectViolation(checkDisplayName(repeat('😀', 257)), P, 'length');
  });

  test('property: any name of 1-256 code points without surrounding whitespace is accepted', () => {
    fc.assert(
      fc.property(
        fc
          .string({ unit: 'grapheme', minLength: 1, maxLength: 256 })
          .map((s) => s.trim())
          .filter((s) => s.length > 0 && [...s].length <= 256),
        (value) => {
          assert.equal(checkDisplayName(value), null);
        },
      ),
      RUNS,
    );
  });

  test('property: any name of more than 256 code points after trimming is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charsOf(ALNUM), minLength: 257, maxLength: 400 }),
        fc.string({ unit: charsOf(' \t\n'), maxLength: 4 }),
        (value, padding) => {
          expectViolation(checkDisplayName(padding + value + padding), P, 'length');
        },
      ),
      RUNS,
    );
  });
});

describe('firstName and lastName', () => {
  test('an empty first or last name is accepted (it clears the name)', () => {
    assert.equal(checkFirstName(''), null);
    assert.equal(checkLastName(''), null);
  });

  test('a first name of 64 characters is accepted and of 65 refused', () => {
    assert.equal(checkFirstName(repeat('f', 64)), null);
    expectViolation(checkFirstName(repeat('f', 65)), 'firstName', 'length');
  });

  test('a last name of 64 characters is accepted and of 65 refused', () => {
    assert.equal(checkLastName(repeat('l', 64)), null);
    expectViolation(checkLastName(repeat('l', 65)), 'lastName', 'length');
  });

  test('name lengths count code points', () => {
    assert.equal(checkFirstName(repeat('𝒜', 64)), null);
    assert.equal(checkLastName(repeat('𝒜', 64)), null);
    expectViolation(checkLastName(repeat('𝒜', 65)), 'lastName', 'length');
  });

  test('property: a name is accepted exactly when it has at most 64 code points', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (value) => {
        const ok = [...value].length <= 64;
        assert.equal(checkFirstName(value) === null, ok);
        assert.equal(checkLastName(value) === null, ok);
      }),
      RUNS,
    );
  });
});

describe('immutableId', () => {
  const P = 'immutableId';

  test('a base64 GUID immutable ID is accepted', () => {
    assert.equal(checkImmutableId('v7LfD1GFMUeMPdBqW5YAzw=='), null);
    assert.equal(checkImmutableId('a+b/c='), null);
  });

  test('an empty immutable ID is refused', () => {
    expectViolation(checkImmutableId(''), P, 'required');
  });

  test('an immutable ID with "$" or "_" is refused', () => {
    expectViolation(checkImmutableId('abc$def'), P, 'characters');
    expectViolation(checkImmutableId('abc_def'), P, 'characters');
  });

  test('an immutable ID of 256 characters is accepted and of 257 refused', () => {
    assert.equal(checkImmutableId(repeat('i', MAX_IMMUTABLE_ID)), null);
    expectViolation(checkImmutableId(repeat('i', MAX_IMMUTABLE_ID + 1)), P, 'length');
  });

  test('property: any 1-256 character ID without "$" or "_" is accepted', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 256 }).map((s) => s.replace(/[$_]/g, 'z')),
        (value) => {
          assert.equal(checkImmutableId(value), null);
        },
      ),
      RUNS,
    );
  });

  test('property: any ID containing "$" or "_" is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme-ascii', maxLength: 200 }),
        fc.nat(),
        fc.constantFrom('$', '_'),
        (value, index, bad) => {
          expectViolation(checkImmutableId(insertAt(value, index, bad)), P, 'characters');
        },
      ),
      RUNS,
    );
  });
});

describe('phoneNumber', () => {
  const P = 'phoneNumber';

  test('ordinary phone numbers are accepted', () => {
    for (const value of ['+1 (425) 555-0100', '425.555.0100', '4255550100 x123', '0']) {
      assert.equal(checkPhoneNumber(value), null, value);
    }
  });

  test('an empty phone number is refused', () => {
    expectViolation(checkPhoneNumber(''), P, 'required');
  });

  test('a phone number with letters other than "x" or other symbols is refused', () => {
    for (const value of ['425-CALL-NOW', '+1 425 555 0100 ext 5', '425/555', '425_555', '425\u00a0555', '４２５']) {
      expectViolation(checkPhoneNumber(value), P, 'characters');
    }
  });

  test('a phone number without any digit is refused', () => {
    expectViolation(checkPhoneNumber(' - '), P, 'format');
  });

  test('a phone number of 64 characters is accepted and of 65 refused', () => {
    assert.equal(checkPhoneNumber(repeat('5', MAX_PHONE_NUMBER)), null);
    expectViolation(checkPhoneNumber(repeat('5', MAX_PHONE_NUMBER + 1)), P, 'length');
  });

  test('property: any 1-64 characters of digits, spaces and + - ( ) . x with a digit is accepted', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charsOf(DIGITS + ' +-().x'), maxLength: 63 }),
        fc.nat(),
        charsOf(DIGITS),
        (value, index, digit) => {
          assert.equal(checkPhoneNumber(insertAt(value, index, digit)), null);
        },
      ),
      RUNS,
    );
  });

  test('property: any phone number containing another character is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charsOf(DIGITS + ' +-().x'), maxLength: 40 }),
        fc.nat(),
        fc
          .string({ unit: 'binary', minLength: 1, maxLength: 1 })
          .filter((c) => !(DIGITS + ' +-().x').includes(c)),
        (value, index, bad) => {
          expectViolation(checkPhoneNumber(insertAt(value, index, bad)), P, 'characters');
        },
      ),
      RUNS,
    );
  });
});

describe('state', () => {
  const P = 'state';

  test('"active" in any case is accepted', () => {
    for (const value of ['active', 'Active', 'ACTIVE', 'aCtIvE']) {
      assert.equal(checkState(value), null, value);
    }
  });

  test('"inactive" in any case is refused with a message pointing to DELETE', () => {
    for (const value of ['inactive', 'Inactive', 'INACTIVE']) {
      const result = expectViolation(checkState(value), P, 'value');
      assert.match(result.message, /DELETE/);
    }
  });

  test('any other state is refused', () => {
    for (const value of ['', 'disabled', 'deleted', ' active', 'active ', 'actives', 'enabled']) {
      const result = expectViolation(checkState(value), P, 'value');
      assert.doesNotMatch(result.message, /DELETE/);
    }
  });

  test('property: any casing of "active" is accepted and of "inactive" refused', () => {
    fc.assert(
      fc.property(fc.mixedCase(fc.constantFrom('active', 'inactive')), (value) => {
        const result = checkState(value);
        if (value.toLowerCase() === 'active') assert.equal(result, null);
        else assert.match(expectViolation(result, P, 'value').message, /DELETE/);
      }),
      RUNS,
    );
  });

  test('property: any string that is not "active" or "inactive" in some case is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !/^(in)?active$/i.test(s)),
        (value) => {
          const result = expectViolation(checkState(value), P, 'value');
          assert.doesNotMatch(result.message, /DELETE/);
        },
      ),
      RUNS,
    );
  });
});
