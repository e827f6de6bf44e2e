/**
 * The seed file (contract section 6): its types once validated, and `parseSeed`, which reads JSON or YAML,
 * applies the defaults, normalises ids and refuses a file that breaks a rule with a message naming the place.
 */
import { extname } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { checkDisplayName, checkFirstName, checkLastName, checkUserPrincipalName, normaliseUsageLocation, upnDomain } from '../users/validation.js';
import { isoSeconds } from '../time.js';

// ---- types -------------------------------------------------------------------------------------------------

export const GDAP_STATUSES = ['active', 'terminated', 'expired', 'pending', 'approvalPending'] as const;
export type GdapStatus = (typeof GDAP_STATUSES)[number];

export interface SeedFile {
  partners: SeedPartner[];
}
export interface SeedPartner {
  /** GUID, lower case. */
  tenantId: string;
  name: string;
  /** Lower case. */
  domain: string;
  applications: SeedApplication[];
  groups: SeedGroup[];
  users: SeedPartnerUser[];
  customers: SeedCustomer[];
}
export interface SeedApplication {
  clientId: string;
  displayName: string;
  clientSecret?: string;
}
export interface SeedGroup {
  id: string;
  displayName: string;
}
export interface SeedPartnerUser {
  id: string;
  userPrincipalName: string;
  /** Defaults to the user principal name when loaded. */
  displayName?: string;
  password: string;
  mfa: boolean;
  /** Ids of groups of the same partner. */
  groups: string[];
}
export interface SeedCustomer {
  id: string;
  companyName: string;
  /** The primary (initial) domain, lower case. */
  domain: string;
  customDomains: SeedCustomDomain[];
  users: SeedCustomerUser[];
  gdapRelationships: SeedGdapRelationship[];
}
export interface SeedCustomDomain {
  name: string;
  federated: boolean;
}
export interface SeedCustomerUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  firstName?: string;
  lastName?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  usageLocation?: string;
  password?: string;
  state: 'active' | 'inactive';
  /** Role template ids, lower case. */
  roles: string[];
  /** Inactive users only; ISO 8601 UTC. Absent: the time of loading. */
  softDeletionTime?: string;
}
export interface SeedGdapRelationship {
  id: string;
  displayName: string;
  status: GdapStatus;
  /** ISO 8601 UTC. */
  endDateTime?: string;
  roles: string[];
  accessAssignments: SeedAccessAssignment[];
}
export interface SeedAccessAssignment {
  groupId: string;
  /** A subset of the relationship's roles. */
  roles: string[];
}

// ---- errors ------------------------------------------------------------------------------------------------

export type SeedPath = readonly (string | number)[];

/** A seed file that cannot be used; the message starts with the file name and the place in the file. */
export class SeedError extends Error {
  override readonly name = 'SeedError';
  constructor(
    message: string,
    readonly file: string,
    /** Where in the file, e.g. `partners[0].users[1].groups[0]`; empty for the whole file. */
    readonly place: string = '',
    readonly line?: number,
  ) {
    super(message);
  }
}

/** `partners[0].customers[1].users[2].userPrincipalName` */
export function formatPath(path: SeedPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${String(seg)}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

// ---- parsing -----------------------------------------------------------------------------------------------

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;

type Locate = (path: SeedPath) => number | undefined;

/**
 * Reads a seed file: YAML when the name ends in `.yaml`/`.yml`, JSON when it ends in `.json`, otherwise JSON
 * when the text parses as JSON and YAML when it does not. Throws `SeedError`.
 */
export function parseSeed(text: string, fileName: string): SeedFile {
  const ext = extname(fileName).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return parseYaml(text, fileName);
  if (ext === '.json') return new Checker(fileName, () => undefined).seed(parseJson(text, fileName));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (text.trimStart().startsWith('{')) throw jsonError(err, fileName);
    return parseYaml(text, fileName);
  }
  return new Checker(fileName, () => undefined).seed(value);
}

function parseJson(text: string, fileName: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw jsonError(err, fileName);
  }
}

function jsonError(err: unknown, fileName: string): SeedError {
  const detail = err instanceof Error ? err.message : String(err);
  return new SeedError(`${fileName}: not valid JSON: ${detail}`, fileName);
}

function parseYaml(text: string, fileName: string): SeedFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0].line;
    const detail = (first.message.split('\n')[0] ?? first.message).replace(/:$/, '');
    return fail(new SeedError(`${fileName}: not valid YAML: ${detail}`, fileName, '', line));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    return fail(new SeedError(`${fileName}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`, fileName));
  }
  return new Checker(fileName, yamlLocator(doc, lineCounter)).seed(value);
}

function fail(err: SeedError): never {
  throw err;
}

/** The line of the node at `path`, or of its nearest ancestor found in the document. */
function yamlLocator(doc: Document, lineCounter: LineCounter): Locate {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the parsed value, building the typed, normalised seed. */
class Checker {
  /** Every id seen, per kind: id → where. */
  private readonly ids = new Map<string, Map<string, SeedPath>>();

  constructor(
    private readonly file: string,
    private readonly locate: Locate,
  ) {}

  fail(path: SeedPath, message: string): never {
    const place = formatPath(path);
    const line = this.locate(path);
    const where = line === undefined ? '' : ` (line ${String(line)})`;
    throw new SeedError(`${this.file}: ${place === '' ? '' : `${place}: `}${message}${where}`, this.file, place, line);
  }

  // ---- structure -----------------------------------------------------------------------------------------

  /** `value` must be an object with no property outside `allowed`. */
  object(value: unknown, path: SeedPath, allowed: readonly string[]): Obj {
    if (!isObject(value)) this.fail(path, `must be an object, not ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail([...path, key], `unknown property "${key}" (allowed: ${allowed.join(', ')})`);
      }
    }
    return value;
  }

  /** An array property; absent or null is `[]` unless required. */
  list(o: Obj, key: string, path: SeedPath, required = false): unknown[] {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.fail([...path, key], 'is required');
      return [];
    }
    if (!Array.isArray(v)) this.fail([...path, key], `must be a list, not ${describe(v)}`);
    return v as unknown[];
  }

  optString(o: Obj, key: string, path: SeedPath): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail([...path, key], `must be a string, not ${describe(v)}`);
    return v;
  }

  /** A required, non-blank string. */
  string(o: Obj, key: string, path: SeedPath): string {
    const v = this.optString(o, key, path);
    if (v === undefined) this.fail([...path, key], 'is required');
    if (v.trim() === '') this.fail([...path, key], 'must not be empty');
    return v;
  }

  bool(o: Obj, key: string, path: SeedPath, fallback: boolean): boolean {
    const v = o[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail([...path, key], `must be true or false, not ${describe(v)}`);
    return v;
  }

  /** One of `allowed`, matched case-insensitively and returned as spelled in `allowed`. */
  oneOf<T extends string>(o: Obj, key: string, path: SeedPath, allowed: readonly T[], fallback: T): T {
    const v = this.optString(o, key, path);
    if (v === undefined) return fallback;
    const found = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
    if (found === undefined) this.fail([...path, key], `must be one of ${allowed.join(', ')}, not "${v}"`);
    return found;
  }

  guidValue(v: unknown, path: SeedPath): string {
    if (typeof v !== 'string') this.fail(path, `must be a GUID string, not ${describe(v)}`);
    if (!GUID.test(v)) this.fail(path, `"${v}" is not a GUID`);
    return v.toLowerCase();
  }

  guid(o: Obj, key: string, path: SeedPath): string {
    const v = o[key];
    if (v === undefined || v === null) this.fail([...path, key], 'is required');
    return this.guidValue(v, [...path, key]);
  }

  /** A list of GUIDs with no repeats. */
  guids(o: Obj, key: string, path: SeedPath): string[] {
    const out: string[] = [];
    this.list(o, key, path).forEach((v, i) => {
      const id = this.guidValue(v, [...path, key, i]);
      const earlier = out.indexOf(id);
      if (earlier !== -1) this.fail([...path, key, i], `"${id}" is listed twice (also at ${formatPath([...path, key, earlier])})`);
      out.push(id);
    });
    return out;
  }

  /** An ISO 8601 date or date-time with a zone, returned as UTC `toISOString()`. */
  isoDate(o: Obj, key: string, path: SeedPath): string | undefined {
    const v = this.optString(o, key, path);
    if (v === undefined) return undefined;
    const ms = Date.parse(v);
    if (!ISO_DATE.test(v) || Number.isNaN(ms)) {
      this.fail([...path, key], `"${v}" is not an ISO 8601 date (e.g. 2027-12-31 or 2027-12-31T00:00:00Z)`);
    }
    return new Date(ms).toISOString();
  }

  domain(o: Obj, key: string, path: SeedPath): string {
    const v = this.string(o, key, path);
    if (!DOMAIN.test(v)) this.fail([...path, key], `"${v}" is not a domain name`);
    return v.toLowerCase();
  }

  /** Records `value` of `kind` at `path`; a second one is an error naming both places. */
  unique(kind: string, value: string, path: SeedPath, shown: string = value): void {
    let seen = this.ids.get(kind);
    if (!seen) {
      seen = new Map();
      this.ids.set(kind, seen);
    }
    const earlier = seen.get(value);
    if (earlier) this.fail(path, `duplicate ${kind} "${shown}" (also at ${formatPath(earlier)})`);
    seen.set(value, path);
  }

  // ---- the seed ------------------------------------------------------------------------------------------

  seed(value: unknown): SeedFile {
    const o = this.object(value, [], ['partners']);
    return { partners: this.list(o, 'partners', [], true).map((p, i) => this.partner(p, ['partners', i])) };
  }

  partner(value: unknown, path: SeedPath): SeedPartner {
    const o = this.object(value, path, ['tenantId', 'name', 'domain', 'applications', 'groups', 'users', 'customers']);
    const tenantId = this.guid(o, 'tenantId', path);
    this.unique('partner tenantId', tenantId, [...path, 'tenantId']);
    const name = this.string(o, 'name', path);
    const domain = this.domain(o, 'domain', path);
    this.unique('partner domain', domain, [...path, 'domain']);
    const applications = this.list(o, 'applications', path).map((a, i) => this.application(a, [...path, 'applications', i]));
    const groups = this.list(o, 'groups', path).map((g, i) => this.group(g, [...path, 'groups', i]));
    const groupIds = new Set(groups.map((g) => g.id));
    const users = this.list(o, 'users', path).map((u, i) => this.partnerUser(u, [...path, 'users', i], groupIds));
    const customers = this.list(o, 'customers', path).map((c, i) => this.customer(c, [...path, 'customers', i], groupIds));
    return { tenantId, name, domain, applications, groups, users, customers };
  }

  application(value: unknown, path: SeedPath): SeedApplication {
    const o = this.object(value, path, ['clientId', 'displayName', 'clientSecret']);
    const clientId = this.guid(o, 'clientId', path);
    this.unique('application clientId', clientId, [...path, 'clientId']);
    const displayName = this.string(o, 'displayName', path);
    const clientSecret = this.optString(o, 'clientSecret', path);
    if (clientSecret === '') this.fail([...path, 'clientSecret'], 'must not be empty (leave it out for an application without a secret)');
    return clientSecret === undefined ? { clientId, displayName } : { clientId, displayName, clientSecret };
  }

  group(value: unknown, path: SeedPath): SeedGroup {
    const o = this.object(value, path, ['id', 'displayName']);
    const id = this.guid(o, 'id', path);
    this.unique('group id', id, [...path, 'id']);
    return { id, displayName: this.string(o, 'displayName', path) };
  }

  partnerUser(value: unknown, path: SeedPath, groupIds: ReadonlySet<string>): SeedPartnerUser {
    const o = this.object(value, path, ['id', 'userPrincipalName', 'displayName', 'password', 'mfa', 'groups']);
    const id = this.guid(o, 'id', path);
    this.unique('partner user id', id, [...path, 'id']);
    const userPrincipalName = this.upn(o, path);
    this.unique('UPN', userPrincipalName.toLowerCase(), [...path, 'userPrincipalName'], userPrincipalName);
    const displayName = this.optString(o, 'displayName', path);
    const password = this.string(o, 'password', path);
    const mfa = this.bool(o, 'mfa', path, true);
    const groups = this.guids(o, 'groups', path);
    groups.forEach((g, i) => {
      if (!groupIds.has(g)) this.fail([...path, 'groups', i], `unknown group "${g}": not a group of this partner`);
    });
    const user: SeedPartnerUser = { id, userPrincipalName, password, mfa, groups };
    if (displayName !== undefined) user.displayName = displayName;
    return user;
  }

  /** `userPrincipalName`: alias@domain. */
  upn(o: Obj, path: SeedPath): string {
    const upn = this.string(o, 'userPrincipalName', path);
    const bad = checkUserPrincipalName(upn);
    if (bad) this.fail([...path, 'userPrincipalName'], `"${upn}" is not a valid user principal name: ${bad.message}`);
    return upn;
  }

  customer(value: unknown, path: SeedPath, groupIds: ReadonlySet<string>): SeedCustomer {
    const o = this.object(value, path, ['id', 'companyName', 'domain', 'customDomains', 'users', 'gdapRelationships']);
    const id = this.guid(o, 'id', path);
    this.unique('customer id', id, [...path, 'id']);
    const companyName = this.string(o, 'companyName', path);
    const domain = this.domain(o, 'domain', path);
    const seenDomains = new Map<string, SeedPath>([[domain, [...path, 'domain']]]);
    const customDomains = this.list(o, 'customDomains', path).map((d, i): SeedCustomDomain => {
      const dPath = [...path, 'customDomains', i];
      const d0 = this.object(d, dPath, ['name', 'federated']);
      const name = this.domain(d0, 'name', dPath);
      const earlier = seenDomains.get(name);
      if (earlier) this.fail([...dPath, 'name'], `duplicate domain "${name}" (also at ${formatPath(earlier)})`);
      seenDomains.set(name, [...dPath, 'name']);
      return { name, federated: this.bool(d0, 'federated', dPath, false) };
    });
    const domains = new Set(seenDomains.keys());
    const upns = new Map<string, SeedPath>();
    const users = this.list(o, 'users', path).map((u, i) => this.customerUser(u, [...path, 'users', i], domains, upns));
    const gdapRelationships = this.list(o, 'gdapRelationships', path).map((r, i) =>
      this.relationship(r, [...path, 'gdapRelationships', i], groupIds),
    );
    return { id, companyName, domain, customDomains, users, gdapRelationships };
  }

  customerUser(value: unknown, path: SeedPath, domains: ReadonlySet<string>, upns: Map<string, SeedPath>): SeedCustomerUser {
    const o = this.object(value, path, [
      'id', 'userPrincipalName', 'displayName', 'firstName', 'lastName', 'usageLocation', 'password', 'state', 'roles',
      'softDeletionTime',
    ]);
    const id = this.guid(o, 'id', path);
    this.unique('customer user id', id, [...path, 'id']);
    const userPrincipalName = this.upn(o, path);
    const upnPath = [...path, 'userPrincipalName'];
    const earlier = upns.get(userPrincipalName.toLowerCase());
    if (earlier) this.fail(upnPath, `duplicate UPN "${userPrincipalName}" (also at ${formatPath(earlier)})`);
    upns.set(userPrincipalName.toLowerCase(), upnPath);
    const domain = upnDomain(userPrincipalName);
    if (!domains.has(domain)) {
      this.fail(upnPath, `the domain "${domain}" is not a domain of this customer (its domains: ${[...domains].join(', ')})`);
    }
    const user: SeedCustomerUser = {
      id,
      userPrincipalName,
      displayName: this.string(o, 'displayName', path),
      state: this.oneOf(o, 'state', path, ['active', 'inactive'], 'active'),
      roles: this.guids(o, 'roles', path),
    };
    const firstName = this.optString(o, 'firstName', path);
    if (firstName !== undefined) user.firstName = firstName;
    const lastName = this.optString(o, 'lastName', path);
    if (lastName !== undefined) user.lastName = lastName;
    const usageLocation = this.optString(o, 'usageLocation', path);
    if (usageLocation !== undefined) {
      const normal = normaliseUsageLocation(usageLocation);
      if (normal === null) this.fail([...path, 'usageLocation'], `"${usageLocation}" is not an ISO 3166-1 alpha-2 country code`);
      user.usageLocation = normal;
    }
    const password = this.optString(o, 'password', path);
    if (password === '') this.fail([...path, 'password'], 'must not be empty (leave it out for a user without a password)');
    if (password !== undefined) user.password = password;
    const softDeletionTime = this.isoDate(o, 'softDeletionTime', path);
    if (softDeletionTime !== undefined) {
      if (user.state !== 'inactive') this.fail([...path, 'softDeletionTime'], 'is only for users whose state is "inactive"');
      user.softDeletionTime = isoSeconds(Date.parse(softDeletionTime));
    }
    // Names follow the API's own rules, so a seeded user can be sent back whole in a PATCH.
    for (const [key, check] of [['displayName', checkDisplayName], ['firstName', checkFirstName], ['lastName', checkLastName]] as const) {
      const v = user[key];
      const broken = v === undefined ? null : check(v);
      if (broken) this.fail([...path, key], broken.message);
    }
    return user;
  }

  relationship(value: unknown, path: SeedPath, groupIds: ReadonlySet<string>): SeedGdapRelationship {
    const o = this.object(value, path, ['id', 'displayName', 'status', 'endDateTime', 'roles', 'accessAssignments']);
    const id = this.guid(o, 'id', path);
    this.unique('GDAP relationship id', id, [...path, 'id']);
    const roles = this.guids(o, 'roles', path);
    const assigned = new Map<string, SeedPath>();
    const accessAssignments = this.list(o, 'accessAssignments', path).map((a, i): SeedAccessAssignment => {
      const aPath = [...path, 'accessAssignments', i];
      const a0 = this.object(a, aPath, ['groupId', 'roles']);
      const groupId = this.guid(a0, 'groupId', aPath);
      if (!groupIds.has(groupId)) this.fail([...aPath, 'groupId'], `unknown group "${groupId}": not a group of this partner`);
      const earlier = assigned.get(groupId);
      if (earlier) this.fail([...aPath, 'groupId'], `group "${groupId}" is assigned twice in this relationship (also at ${formatPath(earlier)})`);
      assigned.set(groupId, [...aPath, 'groupId']);
      const aRoles = this.guids(a0, 'roles', aPath);
      aRoles.forEach((r, j) => {
        if (!roles.includes(r)) this.fail([...aPath, 'roles', j], `role "${r}" is not one of the relationship's roles`);
      });
      return { groupId, roles: aRoles };
    });
    const rel: SeedGdapRelationship = {
      id,
      displayName: this.optString(o, 'displayName', path) ?? '',
      status: this.oneOf(o, 'status', path, GDAP_STATUSES, 'active'),
      roles,
      accessAssignments,
    };
    const endDateTime = this.isoDate(o, 'endDateTime', path);
    if (endDateTime !== undefined) rel.endDateTime = endDateTime;
    return rel;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof v} ${String(v)}`;
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}
