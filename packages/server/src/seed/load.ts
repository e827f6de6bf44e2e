/**
 * Loading a seed into the store: in one transaction, creates what does not exist yet (matched by id) and never
 * changes what the store already holds, so restarting with the same seed keeps every change made since.
 *
 * Customer users and their directory roles are created with the user and never touched again (the API changes
 * them). The partner side's links, which the API never changes (group memberships, customer domains, access
 * assignments), are added when absent, so a seed that gains one takes effect on the next start.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hashSecret } from '../identity/passwords.js';
import type { Store, StoreTx } from '../store/store.js';
import type { UserRecord } from '../store/records.js';
import { parseSeed, SeedError, type SeedCustomer, type SeedFile, type SeedPartner } from './format.js';
import { upnDomain } from '../users/validation.js';
import { isoSeconds } from '../time.js';

export interface SeedCount {
  created: number;
  existing: number;
}
export interface SeedSummary {
  partners: SeedCount;
  applications: SeedCount;
  groups: SeedCount;
  partnerUsers: SeedCount;
  customers: SeedCount;
  customerUsers: SeedCount;
  gdapRelationships: SeedCount;
  accessAssignments: SeedCount;
  /** Seed items left out because the store holds something else under their id, domain or UPN. */
  skipped: string[];
}
export interface LoadSeedOptions {
  /** The time of loading: the default `softDeletionTime` of inactive users. */
  now?: Date;
}

/**
 * What the loader needs of a transaction. `insertGroup`, `insertRelationship` and `insertAssignment` may
 * report whether they inserted (`true`) or found the row already there (`false`); when they report anything
 * else (the store's current `void`), the row counts as created when its parent (partner, customer,
 * relationship) was created by this load.
 */
type SeedTx = Pick<
  StoreTx,
  | 'findPartner' | 'insertPartner' | 'findApplication' | 'insertApplication' | 'findPartnerUser' | 'findPartnerUserByUpn'
  | 'insertPartnerUser' | 'insertGroupMember' | 'getCustomer' | 'insertCustomer' | 'insertCustomerDomain' | 'getUser'
  | 'insertUser' | 'addUserRole'
> & {
  insertGroup(g: { id: string; partnerId: string; displayName: string }): Promise<unknown>;
  insertRelationship(r: Parameters<StoreTx['insertRelationship']>[0]): Promise<unknown>;
  insertAssignment(a: Parameters<StoreTx['insertAssignment']>[0]): Promise<unknown>;
};

const emptyCount = (): SeedCount => ({ created: 0, existing: 0 });

/** Counts one insert-if-absent; returns whether it created the row. */
function tally(count: SeedCount, inserted: unknown, parentCreated: boolean): boolean {
  const created = typeof inserted === 'boolean' ? inserted : parentCreated;
  if (created) count.created++;
  else count.existing++;
  return created;
}

/** A stable commerce id for a customer, derived from its id. */
export function commerceIdFor(customerId: string): string {
  const h = createHash('sha256').update(`partnerkit:commerce:${customerId.toLowerCase()}`).digest('hex');
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The assignment id of a group on a relationship. */
export const assignmentId = (relationshipId: string, groupId: string): string =>
  `${relationshipId.toLowerCase()}:${groupId.toLowerCase()}`;

const secretKey = {
  application: (clientId: string) => `application:${clientId}`,
  partnerUser: (id: string) => `partner-user:${id}`,
  customerUser: (id: string) => `customer-user:${id}`,
};

/**
 * Hashes, before the transaction, the secrets of the items not in the store yet (hashing is slow on purpose,
 * and a transaction should stay short); secrets of items already there are not needed.
 */
async function hashNewSecrets(store: Store, seed: SeedFile): Promise<Map<string, string>> {
  const todo: { key: string; secret: string }[] = [];
  for (const p of seed.partners) {
    for (const a of p.applications) {
      if (a.clientSecret !== undefined && !(await store.findApplication(a.clientId))) {
        todo.push({ key: secretKey.application(a.clientId), secret: a.clientSecret });
      }
    }
    for (const u of p.users) {
      if (!(await store.findPartnerUser(u.id))) todo.push({ key: secretKey.partnerUser(u.id), secret: u.password });
    }
    for (const c of p.customers) {
      for (const u of c.users) {
        if (u.password !== undefined && !(await store.getUser(c.id, u.id))) {
          todo.push({ key: secretKey.customerUser(u.id), secret: u.password });
        }
      }
    }
  }
  const hashes = await Promise.all(todo.map(async ({ key, secret }) => [key, await hashSecret(secret)] as const));
  return new Map(hashes);
}

/** Loads `seed` into `store` in one transaction; see the module comment for what it creates. */
export async function loadSeed(store: Store, seed: SeedFile, options: LoadSeedOptions = {}): Promise<SeedSummary> {
  const now = isoSeconds((options.now ?? new Date()).getTime());
  const hashes = await hashNewSecrets(store, seed);
  /** The precomputed hash, or (when the item appeared to exist before the transaction) a fresh one. */
  const hashOf = async (key: string, secret: string): Promise<string> => hashes.get(key) ?? (await hashSecret(secret));

  return store.transaction(async (tx: SeedTx) => {
    const summary: SeedSummary = {
      partners: emptyCount(), applications: emptyCount(), groups: emptyCount(), partnerUsers: emptyCount(),
      customers: emptyCount(), customerUsers: emptyCount(), gdapRelationships: emptyCount(),
      accessAssignments: emptyCount(), skipped: [],
    };
    for (const p of seed.partners) {
      const partner = await loadPartner(tx, p, summary);
      if (partner !== 'skipped') await loadPartnerContents(tx, p, partner === 'created', summary, hashOf, now);
    }
    return summary;
  });
}

type Outcome = 'created' | 'existing' | 'skipped';

/** Creates the partner if absent; skipped when its domain belongs to another partner (then nothing of it loads). */
async function loadPartner(tx: SeedTx, p: SeedPartner, summary: SeedSummary): Promise<Outcome> {
  if (await tx.findPartner(p.tenantId)) {
    summary.partners.existing++;
    return 'existing';
  }
  if (await tx.insertPartner({ tenantId: p.tenantId, name: p.name, domain: p.domain })) {
    summary.partners.created++;
    return 'created';
  }
  summary.skipped.push(`partner ${p.tenantId} (${p.name}) and everything in it: another partner has the domain ${p.domain}`);
  return 'skipped';
}

async function loadPartnerContents(
  tx: SeedTx,
  p: SeedPartner,
  partnerCreated: boolean,
  summary: SeedSummary,
  hashOf: (key: string, secret: string) => Promise<string>,
  now: string,
): Promise<void> {
  const partnerId = p.tenantId;
  for (const a of p.applications) {
    const found = await tx.findApplication(a.clientId);
    if (found && found.partnerId !== partnerId) {
      summary.skipped.push(`application ${a.clientId} (${a.displayName}): it belongs to partner ${found.partnerId}`);
    } else if (found) {
      summary.applications.existing++;
    } else {
      const secretHash = a.clientSecret === undefined ? null : await hashOf(secretKey.application(a.clientId), a.clientSecret);
      await tx.insertApplication({ clientId: a.clientId, partnerId, displayName: a.displayName, secretHash });
      summary.applications.created++;
    }
  }
  for (const g of p.groups) {
    tally(summary.groups, await tx.insertGroup({ id: g.id, partnerId, displayName: g.displayName }), partnerCreated);
  }
  for (const u of p.users) {
    const found = await tx.findPartnerUser(u.id);
    if (found && found.partnerId !== partnerId) {
      summary.skipped.push(`partner user ${u.id} (${u.userPrincipalName}): it belongs to partner ${found.partnerId}`);
      continue;
    }
    if (found) {
      summary.partnerUsers.existing++;
    } else {
      const holder = await tx.findPartnerUserByUpn(u.userPrincipalName);
      if (holder) {
        summary.skipped.push(`partner user ${u.id}: the user ${holder.id} already has the UPN ${u.userPrincipalName}`);
        continue;
      }
      await tx.insertPartnerUser({
        id: u.id, partnerId, upn: u.userPrincipalName, displayName: u.displayName ?? u.userPrincipalName,
        passwordHash: await hashOf(secretKey.partnerUser(u.id), u.password), mfa: u.mfa,
      });
      summary.partnerUsers.created++;
    }
    for (const g of u.groups) await tx.insertGroupMember(g, u.id);
  }
  for (const c of p.customers) await loadCustomer(tx, partnerId, c, summary, hashOf, now);
}

async function loadCustomer(
  tx: SeedTx,
  partnerId: string,
  c: SeedCustomer,
  summary: SeedSummary,
  hashOf: (key: string, secret: string) => Promise<string>,
  now: string,
): Promise<void> {
  const found = await tx.getCustomer(c.id);
  if (found && found.partnerId !== partnerId) {
    summary.skipped.push(`customer ${c.id} (${c.companyName}) and everything in it: it is a customer of partner ${found.partnerId}`);
    return;
  }
  const customerCreated = !found;
  if (found) {
    summary.customers.existing++;
  } else {
    await tx.insertCustomer({
      id: c.id, partnerId, commerceId: commerceIdFor(c.id), companyName: c.companyName, domain: c.domain,
      relationshipToPartner: 'reseller', allowDelegatedAccess: true,
    });
    summary.customers.created++;
  }
  await tx.insertCustomerDomain(c.id, { name: c.domain, federated: false });
  for (const d of c.customDomains) await tx.insertCustomerDomain(c.id, d);
  const federated = new Set(c.customDomains.filter((d) => d.federated).map((d) => d.name));

  for (const u of c.users) {
    if (await tx.getUser(c.id, u.id)) {
      summary.customerUsers.existing++;
      continue;
    }
    const passwordHash = u.password === undefined ? null : await hashOf(secretKey.customerUser(u.id), u.password);
    const record: UserRecord = {
      id: u.id,
      customerId: c.id,
      upn: u.userPrincipalName,
      displayName: u.displayName,
      firstName: u.firstName ?? null,
      lastName: u.lastName ?? null,
      usageLocation: u.usageLocation ?? null,
      immutableId: null,
      phoneNumber: null,
      passwordHash,
      forceChangePassword: false,
      state: u.state,
      softDeletionTime: u.state === 'inactive' ? (u.softDeletionTime ?? now) : null,
      userDomainType: federated.has(upnDomain(u.userPrincipalName)) ? 'federated' : 'none',
      lastDirectorySyncTime: null,
    };
    if (await tx.insertUser(record)) {
      summary.customerUsers.created++;
      for (const role of u.roles) await tx.addUserRole(c.id, u.id, role);
    } else {
      summary.skipped.push(
        `customer user ${u.id} (${u.userPrincipalName}) of customer ${c.id}: its id is used in another customer, or its UPN by another user`,
      );
    }
  }

  for (const r of c.gdapRelationships) {
    const relationshipCreated = tally(
      summary.gdapRelationships,
      await tx.insertRelationship({
        id: r.id, partnerId, customerId: c.id, displayName: r.displayName, status: r.status,
        endDateTime: r.endDateTime ?? null, roles: r.roles,
      }),
      customerCreated,
    );
    for (const a of r.accessAssignments) {
      tally(
        summary.accessAssignments,
        await tx.insertAssignment({ id: assignmentId(r.id, a.groupId), relationshipId: r.id, groupId: a.groupId, roles: a.roles }),
        relationshipCreated,
      );
    }
  }
}

/** Reads and validates a seed file (JSON or YAML). Throws `SeedError` naming the file. */
export async function readSeedFile(path: string): Promise<SeedFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : err instanceof Error ? err.message : String(err);
    throw new SeedError(`${path}: cannot read the seed file: ${reason}`, path);
  }
  return parseSeed(text, path);
}

/** Reads, validates and loads a seed file. */
export async function loadSeedFile(store: Store, path: string, options: LoadSeedOptions = {}): Promise<SeedSummary> {
  return loadSeed(store, await readSeedFile(path), options);
}

/** One line for the log: `seed: created 1 partner, 3 partner users, …; already present: …`. */
export function formatSeedSummary(s: SeedSummary): string {
  const kinds: [keyof Omit<SeedSummary, 'skipped'>, string][] = [
    ['partners', 'partner'], ['applications', 'application'], ['groups', 'group'], ['partnerUsers', 'partner user'],
    ['customers', 'customer'], ['customerUsers', 'customer user'], ['gdapRelationships', 'GDAP relationship'],
    ['accessAssignments', 'access assignment'],
  ];
  const list = (field: keyof SeedCount): string => {
    const parts = kinds
      .filter(([k]) => s[k][field] > 0)
      .map(([k, noun]) => `${String(s[k][field])} ${noun}${s[k][field] === 1 ? '' : 's'}`);
    return parts.length === 0 ? 'nothing' : parts.join(', ');
  };
  let line = `seed: created ${list('created')}; already present: ${list('existing')}`;
  if (s.skipped.length > 0) line += `; skipped ${String(s.skipped.length)}: ${s.skipped.join('; ')}`;
  return line;
}
