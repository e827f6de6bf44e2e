/**
 * Pure validation rules for a Partner Center customer user (no I/O).
 *
 * Every `check*` function returns `null` when the value is valid, or a
 * {@link RuleViolation} naming the property (camelCase, as on the wire), a short
 * machine rule id and a human message in English. Messages never echo the value
 * that was checked; password messages are additionally guaranteed never to
 * contain the (non-empty) password, even as a substring.
 *
 * Rule ids used: 'required', 'length', 'characters', 'format', 'complexity',
 * 'iso3166', 'value'.
 *
 * Domain membership of a UPN (verified / federated domain of the customer) is
 * not checked here; use {@link upnDomain} to get the domain for that check.
 */
// The package's Node entry registers the country names of every language it knows (about 2 MB the server never
// uses); its plain entry holds the codes alone.
import countries from 'i18n-iso-countries/index.js';

export interface RuleViolation {
  property: string;
  rule: string;
  message: string;
}

export const MAX = {
  upn: 113,
  upnAlias: 64,
  upnDomain: 48,
  displayName: 256,
  firstName: 64,
  lastName: 64,
  passwordMin: 8,
  passwordMax: 256,
} as const;

/** Maximum length of `immutableId`, in code points. */
export const MAX_IMMUTABLE_ID = 256;
/** Maximum length of `phoneNumber`, in characters. */
export const MAX_PHONE_NUMBER = 64;

/** Symbols allowed in a UPN alias, besides A-Z, a-z and 0-9. */
export const UPN_ALIAS_SYMBOLS = "'.-_!#^~";
/** Symbols allowed in a password, besides A-Z, a-z and 0-9 (the last one is a space). */
export const PASSWORD_SYMBOLS = '@#$%^&*-_!+=[]{}|\\:\',.?/`~"();<> ';
/** Characters allowed in a phone number, besides the digits 0-9. */
export const PHONE_NUMBER_SYMBOLS = ' +-().x';

/** Property names used in violations. */
export const PROPERTY = {
  userPrincipalName: 'userPrincipalName',
  password: 'passwordProfile.password',
  usageLocation: 'usageLocation',
  displayName: 'displayName',
  firstName: 'firstName',
  lastName: 'lastName',
  immutableId: 'immutableId',
  phoneNumber: 'phoneNumber',
  state: 'state',
} as const;

function violation(property: string, rule: string, message: string): RuleViolation {
  return { property, rule, message };
}

/** Length in Unicode code points (what a user perceives for most names). */
export function codePointLength(value: string): number {
  return [...value].length;
}

const NON_ASCII = /[^\x00-\x7F]/;
const UPN_ALIAS = /^[A-Za-z0-9'.\-_!#^~]+$/;
const DOMAIN_CHARACTERS = /^[A-Za-z0-9.-]+$/;
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const MAX_DNS_LABEL = 63;

// ---------------------------------------------------------------------------
// userPrincipalName

/**
 * Checks the form of a user principal name `alias@domain`.
 * Order of checks: required, ASCII only, exactly one "@", lengths (total, alias,
 * domain), alias characters, alias dots, domain characters, domain form.
 */
export function checkUserPrincipalName(upn: string): RuleViolation | null {
  const p = PROPERTY.userPrincipalName;
  if (upn.length === 0) {
    return violation(p, 'required', 'The user principal name is required.');
  }
  if (NON_ASCII.test(upn)) {
    return violation(
      p,
      'characters',
      'The user principal name must not contain accented or other non-ASCII characters.',
    );
  }
  const at = upn.indexOf('@');
  if (at === -1 || upn.indexOf('@', at + 1) !== -1) {
    return violation(
      p,
      'format',
      'The user principal name must have the form alias@domain, with exactly one "@".',
    );
  }
  const alias = upn.slice(0, at);
  const domain = upn.slice(at + 1);
  if (upn.length > MAX.upn) {
    return violation(
      p,
      'length',
      `The user principal name must be at most ${MAX.upn} characters long.`,
    );
  }
  if (alias.length > MAX.upnAlias) {
    return violation(
      p,
      'length',
      `The alias of the user principal name (before "@") must be at most ${MAX.upnAlias} characters long.`,
    );
  }
  if (domain.length > MAX.upnDomain) {
    return violation(
      p,
      'length',
      `The domain of the user principal name (after "@") must be at most ${MAX.upnDomain} characters long.`,
    );
  }
  if (alias.length === 0) {
    return violation(
      p,
      'format',
      'The alias of the user principal name (before "@") must not be empty.',
    );
  }
  if (!UPN_ALIAS.test(alias)) {
    return violation(
      p,
      'characters',
      `The alias of the user principal name may contain only letters A-Z and a-z, digits 0-9 and the symbols ${UPN_ALIAS_SYMBOLS.split('').join(' ')}.`,
    );
  }
  if (alias.startsWith('.')) {
    return violation(
      p,
      'format',
      'The alias of the user principal name must not start with a period.',
    );
  }
  if (alias.endsWith('.')) {
    return violation(
      p,
      'format',
      'The alias of the user principal name must not end with a period (no "." immediately before "@").',
    );
  }
  if (alias.includes('..')) {
    return violation(
      p,
      'format',
      'The alias of the user principal name must not contain two consecutive periods.',
    );
  }
  if (domain.length === 0) {
    return violation(
      p,
      'format',
      'The domain of the user principal name (after "@") must not be empty.',
    );
  }
  if (!DOMAIN_CHARACTERS.test(domain)) {
    return violation(
      p,
      'characters',
      'The domain of the user principal name may contain only letters, digits, hyphens and periods.',
    );
  }
  if (!isDnsName(domain)) {
    return violation(
      p,
      'format',
      'The domain of the user principal name must be a DNS name such as contoso.com: ' +
        'at least two labels separated by periods, each of letters, digits and hyphens, ' +
        'not starting or ending with a hyphen, and a last label that is not all digits.',
    );
  }
  return null;
}

function isDnsName(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const label of labels) {
    if (label.length > MAX_DNS_LABEL || !DNS_LABEL.test(label)) return false;
  }
  const last = labels[labels.length - 1] ?? '';
  return !/^[0-9]+$/.test(last);
}

/**
 * The domain part of a UPN (after the last "@"), in lower case, so that callers
 * can check it against the customer's verified or federated domains.
 * Returns '' when there is no "@".
 */
export function upnDomain(upn: string): string {
  const at = upn.lastIndexOf('@');
  return at === -1 ? '' : upn.slice(at + 1).toLowerCase();
}

// ---------------------------------------------------------------------------
// password

const PASSWORD_SYMBOL_SET: ReadonlySet<string> = new Set(PASSWORD_SYMBOLS);

type CharacterClass = 'lowercase' | 'uppercase' | 'digit' | 'symbol';

function passwordCharacterClass(c: string): CharacterClass | null {
  if (c >= 'a' && c <= 'z') return 'lowercase';
  if (c >= 'A' && c <= 'Z') return 'uppercase';
  if (c >= '0' && c <= '9') return 'digit';
  if (PASSWORD_SYMBOL_SET.has(c)) return 'symbol';
  return null;
}

/**
 * Two last-resort messages with disjoint sets of characters: a non-empty
 * password cannot be a substring of both, so one of them is always safe.
 */
const PASSWORD_FALLBACK_MESSAGES = [
  'The password does not meet the password policy.',
  'PASSWORD-REFUSED',
] as const;

function passwordViolation(password: string, rule: string, message: string): RuleViolation {
  let safe = message;
  if (password.length > 0) {
    for (const candidate of [message, ...PASSWORD_FALLBACK_MESSAGES]) {
      safe = candidate;
      if (!candidate.includes(password)) break;
    }
  }
  return violation(PROPERTY.password, rule, safe);
}

/**
 * Checks a password against the Microsoft Entra policy for cloud-only users:
 * 8-256 characters, only A-Z a-z 0-9, space and the symbols of
 * {@link PASSWORD_SYMBOLS}, and characters of at least 3 of the 4 classes
 * lowercase, uppercase, digits and symbols (space counts as a symbol).
 */
export function checkPassword(password: string): RuleViolation | null {
  if (password.length === 0) {
    return passwordViolation(password, 'required', 'A password is required.');
  }
  const classes = new Set<CharacterClass>();
  for (const c of password) {
    const cls = passwordCharacterClass(c);
    if (cls === null) {
      return passwordViolation(
        password,
        'characters',
        'The password contains a character that is not allowed. Use only letters A-Z and a-z, ' +
          `digits 0-9, spaces and the symbols ${PASSWORD_SYMBOLS.trim().split('').join(' ')}.`,
      );
    }
    classes.add(cls);
  }
  // Only ASCII characters remain here, so code units equal characters.
  if (password.length < MAX.passwordMin || password.length > MAX.passwordMax) {
    return passwordViolation(
      password,
      'length',
      `The password must be between ${MAX.passwordMin} and ${MAX.passwordMax} characters long.`,
    );
  }
  if (classes.size < 3) {
    return passwordViolation(
      password,
      'complexity',
      'The password must contain characters from at least 3 of these 4 classes: ' +
        'lowercase letters, uppercase letters, digits and symbols.',
    );
  }
  return null;
}

// ---------------------------------------------------------------------------
// usageLocation

const ALPHA2_CODES: ReadonlySet<string> = new Set(
  Object.keys(countries.getAlpha2Codes()).map((code) => code.toUpperCase()),
);

/**
 * Normalises a usage location to an upper-case ISO 3166-1 alpha-2 code
 * ('us' -> 'US'); returns null when it is not one (e.g. 'USA', 'XX', 'U', '').
 */
export function normaliseUsageLocation(value: string): string | null {
  if (!/^[A-Za-z]{2}$/.test(value)) return null;
  const upper = value.toUpperCase();
  return ALPHA2_CODES.has(upper) ? upper : null;
}

export function checkUsageLocation(value: string): RuleViolation | null {
  if (value.length === 0) {
    return violation(PROPERTY.usageLocation, 'required', 'The usage location is required.');
  }
  if (normaliseUsageLocation(value) === null) {
    return violation(
      PROPERTY.usageLocation,
      'iso3166',
      'The usage location must be a two-letter ISO 3166-1 alpha-2 country code, such as US.',
    );
  }
  return null;
}

// ---------------------------------------------------------------------------
// names and other properties

/** displayName: 1-256 code points after trimming; cannot be empty or cleared. */
export function checkDisplayName(value: string): RuleViolation | null {
  const trimmed = value.trim();
  if (trimmed.length === 0) {
    return violation(
      PROPERTY.displayName,
      'required',
      'The display name is required and cannot be empty or only whitespace.',
    );
  }
  if (codePointLength(trimmed) > MAX.displayName) {
    return violation(
      PROPERTY.displayName,
      'length',
      `The display name must be at most ${MAX.displayName} characters long.`,
    );
  }
  return null;
}

/** firstName: at most 64 code points; '' is allowed (it clears the name). */
export function checkFirstName(value: string): RuleViolation | null {
  if (codePointLength(value) > MAX.firstName) {
    return violation(
      PROPERTY.firstName,
      'length',
      `The first name must be at most ${MAX.firstName} characters long.`,
    );
  }
  return null;
}

/** lastName: at most 64 code points; '' is allowed (it clears the name). */
export function checkLastName(value: string): RuleViolation | null {
  if (codePointLength(value) > MAX.lastName) {
    return violation(
      PROPERTY.lastName,
      'length',
      `The last name must be at most ${MAX.lastName} characters long.`,
    );
  }
  return null;
}

/** immutableId: 1-256 code points, without "$" or "_". */
export function checkImmutableId(value: string): RuleViolation | null {
  if (value.length === 0) {
    return violation(PROPERTY.immutableId, 'required', 'The immutable ID must not be empty.');
  }
  if (codePointLength(value) > MAX_IMMUTABLE_ID) {
    return violation(
      PROPERTY.immutableId,
      'length',
      `The immutable ID must be at most ${MAX_IMMUTABLE_ID} characters long.`,
    );
  }
  if (value.includes('$') || value.includes('_')) {
    return violation(
      PROPERTY.immutableId,
      'characters',
      'The immutable ID must not contain "$" or "_".',
    );
  }
  return null;
}

const PHONE_NUMBER = /^[0-9 +\-().x]+$/;

/**
 * phoneNumber: 1-64 characters of digits, spaces and + - ( ) . x, with at least
 * one digit.
 */
export function checkPhoneNumber(value: string): RuleViolation | null {
  if (value.length === 0) {
    return violation(PROPERTY.phoneNumber, 'required', 'The phone number must not be empty.');
  }
  if (codePointLength(value) > MAX_PHONE_NUMBER) {
    return violation(
      PROPERTY.phoneNumber,
      'length',
      `The phone number must be at most ${MAX_PHONE_NUMBER} characters long.`,
    );
  }
  if (!PHONE_NUMBER.test(value)) {
    return violation(
      PROPERTY.phoneNumber,
      'characters',
      'The phone number may contain only digits, spaces and the characters + - ( ) . x',
    );
  }
  if (!/[0-9]/.test(value)) {
    return violation(
      PROPERTY.phoneNumber,
      'format',
      'The phone number must contain at least one digit.',
    );
  }
  return null;
}

/**
 * state: only "active" (any case) may be given. "inactive" is refused because a
 * user is deleted with DELETE, not by changing its state.
 */
export function checkState(value: string): RuleViolation | null {
  if (/^active$/i.test(value)) return null;
  if (/^inactive$/i.test(value)) {
    return violation(
      PROPERTY.state,
      'value',
      'The state cannot be set to "inactive": to delete a user, send DELETE to the user resource.',
    );
  }
  return violation(PROPERTY.state, 'value', 'The state, when given, must be "active".');
}
