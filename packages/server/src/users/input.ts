/**
 * Reading a CustomerUser body: property names matched without regard to case (the .NET SDK sends PascalCase),
 * JSON types checked against the contract schema (400 800002), read-only and unknown properties dropped.
 */
import { CustomerUserInput } from '@partnerkit/contract';
import { Compile } from 'typebox/compile';
import { invalidInput } from '../errors.js';

/** The writable properties a client sent, with null and absent both meaning "not given". */
export interface UserInput {
  usageLocation?: string;
  userPrincipalName?: string;
  firstName?: string;
  lastName?: string;
  displayName?: string;
  immutableId?: string;
  phoneNumber?: string;
  password?: string;
  forceChangePassword?: boolean;
  /** True when `passwordProfile` was given as an object. */
  passwordProfileGiven: boolean;
  state?: string;
}

const TOP_LEVEL = [
  'usageLocation', 'userPrincipalName', 'firstName', 'lastName', 'displayName', 'immutableId', 'phoneNumber',
  'passwordProfile', 'state', 'id', 'userDomainType', 'lastDirectorySyncTime', 'softDeletionTime', 'links', 'attributes',
] as const;
const PASSWORD_PROFILE = ['password', 'forceChangePassword'] as const;

/** Canonical names by their lower case. */
const byLowerCase = (names: readonly string[]): ReadonlyMap<string, string> => new Map(names.map((n) => [n.toLowerCase(), n]));
const TOP_LEVEL_NAMES = byLowerCase(TOP_LEVEL);
const PASSWORD_PROFILE_NAMES = byLowerCase(PASSWORD_PROFILE);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Renames keys to their canonical camelCase; unknown keys are dropped; a key given twice (in two casings) is refused. */
function canonicalise(obj: Record<string, unknown>, byLower: ReadonlyMap<string, string>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const name = byLower.get(key.toLowerCase());
    if (name === undefined) continue;
    if (name in out && out[name] !== null && value !== null) {
      throw invalidInput(`The property ${where}${name} is given more than once.`, [{ property: `${where}${name}` }]);
    }
    if (!(name in out) || value !== null) out[name] = value;
  }
  return out;
}

const check = Compile(CustomerUserInput);

/**
 * Text a store can hold as it was sent. A lone surrogate (`"\ud800"`) is valid JSON grammar but not Unicode text: it
 * cannot be stored as UTF-8 (SQLite would keep U+FFFD instead, so the answer would differ from what was stored); and
 * PostgreSQL cannot store U+0000 at all. Both are refused like a value of the wrong type, on every engine.
 */
function wellFormed(value: string, property: string): string {
  if (/[\p{Cs}\u0000]/u.test(value)) throw invalidInput(`The property ${property} is not well-formed Unicode text, or holds U+0000.`, [{ property }]);
  return value;
}

export function readUserInput(body: unknown): UserInput {
  if (!isObject(body)) throw invalidInput('The request body must be a JSON object.');
  const top = canonicalise(body, TOP_LEVEL_NAMES, '');
  if (isObject(top.passwordProfile)) top.passwordProfile = canonicalise(top.passwordProfile, PASSWORD_PROFILE_NAMES, 'passwordProfile.');
  if (!check.Check(top)) {
    const first = check.Errors(top)[0];
    const property = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || 'body';
    throw invalidInput(`The property ${property} has the wrong JSON type.`, [{ property, expected: first?.params ?? {} }]);
  }
  const input: UserInput = { passwordProfileGiven: false };
  const str = (k: (typeof TOP_LEVEL)[number]): string | undefined => {
    const v = top[k];
    return typeof v === 'string' ? wellFormed(v, k) : undefined;
  };
  const set = <K extends keyof UserInput>(k: K, v: UserInput[K] | undefined): void => {
    if (v !== undefined) input[k] = v;
  };
  set('usageLocation', str('usageLocation'));
  set('userPrincipalName', str('userPrincipalName'));
  set('firstName', str('firstName'));
  set('lastName', str('lastName'));
  set('displayName', str('displayName'));
  set('immutableId', str('immutableId'));
  set('phoneNumber', str('phoneNumber'));
  set('state', str('state'));
  const pp = top.passwordProfile;
  if (isObject(pp)) {
    input.passwordProfileGiven = true;
    if (typeof pp.password === 'string') input.password = wellFormed(pp.password, 'passwordProfile.password');
    if (typeof pp.forceChangePassword === 'boolean') input.forceChangePassword = pp.forceChangePassword;
  }
  return input;
}
