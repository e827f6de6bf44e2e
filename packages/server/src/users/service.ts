/**
 * The rules of a customer's user accounts: get, list, create, update (including UPN rename, password reset and
 * restore), delete. Every change commits with its audit records (and the caller's `within` writes) in one
 * transaction. No HTTP in here.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../actor.js';
import { customerAccess, type CustomerAccess } from '../access/authorize.js';
import { requireMayActOnTarget, requireRoles, type Operation, type SensitiveAction } from '../access/gdap.js';
import { auditRow, type AuditEntry } from '../audit/records.js';
import { PartnerKitError, invalidProperty, userNotFound, type RuleBreak } from '../errors.js';
import { hashSecret } from '../identity/passwords.js';
import { badToken, decodeToken, encodeToken, isPageSize } from '../paging.js';
import type { CustomerRecord, UserRecord, UserSortField } from '../store/records.js';
import type { Store, StoreTx } from '../store/store.js';
import type { UserInput } from './input.js';
import {
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
import { toAuditValue } from './wire.js';
import { isoSeconds } from '../time.js';

/** Extra writes that must commit with the change (the idempotency record). */
export type Within<T> = (tx: StoreTx, result: T) => Promise<void>;

export interface ListUsersOptions {
  state: 'active' | 'inactive';
  sort: UserSortField;
  descending: boolean;
  size: number;
  continuationToken: string | undefined;
}

/** A page of users; pages are shared between requests (see `UserService.list`), so they are read-only. */
export interface UserPage {
  readonly users: readonly UserRecord[];
  readonly next: string | undefined;
  readonly size: number;
}

/** Most pages of users kept (a page of 100 users takes about 100 KB with its rendering). */
const MAX_KEPT_PAGES = 128;

export interface UserServiceOptions {
  retentionDays: number;
  now?: () => number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const fail = (v: RuleBreak | null): void => {
  if (v) throw invalidProperty(v);
};

const ms = (days: number): number => days * 86_400_000;

export class UserService {
  private readonly now: () => number;
  private readonly retentionMs: number;
  /** Pages of active users by customer and position, with the store's users version they were read at. */
  private readonly pages = new Map<string, { version: number; page: UserPage }>();

  constructor(
    private readonly store: Store,
    opts: UserServiceOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.retentionMs = ms(opts.retentionDays);
  }

  /** Instant before which soft-deleted users are purged. */
  purgeBefore(): string {
    return new Date(this.now() - this.retentionMs).toISOString();
  }

  private access(tx: StoreTx, actor: Actor, customerId: string): Promise<CustomerAccess> {
    return customerAccess(tx, actor, customerId, this.now());
  }

  private isPurged(u: UserRecord): boolean {
    return u.state === 'inactive' && u.softDeletionTime !== null && u.softDeletionTime < this.purgeBefore();
  }

  /**
   * A user that exists (not purged) in the customer. `lock`: inside a transaction that will change the user,
   * locks its row until the commit (see `StoreTx.getUserForUpdate`), so concurrent changes apply one after the
   * other, each on the result of the one before, whichever instance runs them.
   */
  private async findUser(tx: StoreTx, customerId: string, userId: string, lock = false): Promise<UserRecord | undefined> {
    // User ids are GUIDs: anything else (`%00`, `..`) names no user, and is not sent to the store.
    if (!GUID.test(userId)) return undefined;
    const u = lock ? await tx.getUserForUpdate(customerId, userId) : await tx.getUser(customerId, userId);
    if (!u) return undefined;
    if (this.isPurged(u)) {
      await tx.purgeUser(u.id);
      return undefined;
    }
    return u;
  }

  private async activeUser(tx: StoreTx, customerId: string, userId: string, lock = false): Promise<UserRecord> {
    const u = await this.findUser(tx, customerId, userId, lock);
    if (u?.state !== 'active') throw userNotFound();
    return u;
  }

  async get(actor: Actor, customerId: string, userId: string): Promise<UserRecord> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    requireRoles(roles, ['getUser']);
    return this.activeUser(this.store, customer.id, userId);
  }

  /** The directory role template ids a user holds. */
  async directoryRoles(actor: Actor, customerId: string, userId: string): Promise<string[]> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    requireRoles(roles, ['readRoles']);
    const user = await this.activeUser(this.store, customer.id, userId);
    return this.store.userRoleIds(user.id);
  }

  async list(actor: Actor, customerId: string, opts: ListUsersOptions): Promise<UserPage> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    let { state, sort, descending, size } = opts;
    let after: { key: string; seq: number } | undefined;
    if (opts.continuationToken !== undefined) {
      const t = decodeToken(opts.continuationToken);
      if (
        t.k !== 'users' || t.c !== customer.id || typeof t.key !== 'string' || typeof t.seq !== 'number' ||
        !isPageSize(t.size) ||
        (t.state !== 'active' && t.state !== 'inactive') ||
        (t.sort !== 'creation' && t.sort !== 'displayName' && t.sort !== 'userPrincipalName') || typeof t.desc !== 'boolean'
      ) {
        throw badToken();
      }
      state = t.state;
      sort = t.sort;
      descending = t.desc;
      size = t.size;
      after = { key: t.key, seq: t.seq };
    }
    // The role check follows the list actually read (a token carries its own filter).
    requireRoles(roles, [state === 'inactive' ? 'listDeletedUsers' : 'listUsers']);
    // Pages of active users are kept while no change of users has committed (deleted users' pages depend on the
    // time too: purged ones drop out).
    const version = state === 'active' ? this.store.usersVersion() : undefined;
    const key = version === undefined ? undefined : `${customer.id}\n${sort}\n${String(descending)}\n${String(size)}\n${after?.key ?? ''}\n${String(after?.seq ?? '')}`;
    if (key !== undefined) {
      const kept = this.pages.get(key);
      if (kept !== undefined && kept.version === version) return kept.page;
    }
    const rows = await this.store.listUsers({
      customerId: customer.id, state, sort, descending, after, limit: size + 1, purgeBefore: this.purgeBefore(),
    });
    const users = rows.slice(0, size);
    const last = users[users.length - 1];
    const next = rows.length > size && last
      ? encodeToken({ k: 'users', c: customer.id, state, sort, desc: descending, size, key: last.key, seq: last.seq })
      : undefined;
    const page: UserPage = Object.freeze({ users: Object.freeze(users.map((r) => Object.freeze(r.user))), next, size });
    if (key !== undefined && version !== undefined) {
      if (this.pages.size >= MAX_KEPT_PAGES) this.pages.clear();
      this.pages.set(key, { version, page });
    }
    return page;
  }

  /** Checks the UPN's rules, its domain (a verified, non-federated domain of the customer) and that it is free. */
  private async checkNewUpn(tx: StoreTx, customer: CustomerRecord, upn: string, selfId: string | undefined): Promise<void> {
    fail(checkUserPrincipalName(upn));
    const domain = upnDomain(upn);
    const domains = await tx.customerDomains(customer.id);
    const match = domains.find((d) => d.name === domain) ?? (domain === customer.domain ? { name: domain, federated: false } : undefined);
    if (!match) {
      fail({ property: 'userPrincipalName', rule: 'domain', message: `the domain ${domain} is not a verified domain of the customer` });
    } else if (match.federated) {
      fail({ property: 'userPrincipalName', rule: 'domain', message: `the domain ${domain} is federated; users of a federated domain cannot be managed here` });
    }
    const holder = await tx.findUserByUpn(customer.id, upn);
    if (holder && holder.id !== selfId) {
      if (this.isPurged(holder)) {
        await tx.purgeUser(holder.id);
        return;
      }
      throw upnInUse();
    }
  }

  /**
   * Creates a user. `read` parses the body; it runs after the customer and role checks, so a caller that may not
   * create users hears 403 whatever it sent.
   */
  async create(actor: Actor, customerId: string, read: () => UserInput, within?: Within<UserRecord>): Promise<UserRecord> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    requireRoles(roles, ['createUser']);
    const input = read();
    if (input.userPrincipalName === undefined) fail({ property: 'userPrincipalName', rule: 'required', message: 'userPrincipalName is required' });
    if (input.displayName === undefined) fail({ property: 'displayName', rule: 'required', message: 'displayName is required' });
    if (input.password === undefined) fail({ property: 'passwordProfile.password', rule: 'required', message: 'passwordProfile.password is required' });
    const upn = input.userPrincipalName ?? '';
    const password = input.password ?? '';
    fail(checkDisplayName(input.displayName ?? ''));
    this.checkCommonFields(input);
    fail(checkPassword(password));
    const passwordHash = await hashSecret(password);
    return this.store.transaction(async (tx) => {
      await this.checkNewUpn(tx, customer, upn, undefined);
      const user: UserRecord = {
        id: randomUUID(),
        customerId: customer.id,
        upn,
        displayName: (input.displayName ?? '').trim(),
        firstName: emptyToNull(input.firstName),
        lastName: emptyToNull(input.lastName),
        usageLocation: input.usageLocation === undefined ? null : normaliseUsageLocation(input.usageLocation),
        immutableId: input.immutableId ?? null,
        phoneNumber: input.phoneNumber ?? null,
        passwordHash,
        forceChangePassword: input.forceChangePassword ?? false,
        state: 'active',
        softDeletionTime: null,
        userDomainType: 'none',
        lastDirectorySyncTime: null,
      };
      // Another instance may have created a user with this UPN since the check: the unique index says so.
      if (!(await tx.insertUser(user))) throw upnInUse();
      await this.audit(tx, actor, customer, [
        { operationType: 'create_customer_user', resourceType: 'customer_user', resourceId: user.id, oldValue: null, newValue: toAuditValue(user), customizedData: userData(user) },
      ]);
      if (within) await within(tx, user);
      return user;
    });
  }

  private checkCommonFields(input: UserInput): void {
    if (input.firstName !== undefined) fail(checkFirstName(input.firstName));
    if (input.lastName !== undefined) fail(checkLastName(input.lastName));
    if (input.usageLocation !== undefined) fail(checkUsageLocation(input.usageLocation));
    if (input.immutableId !== undefined) fail(checkImmutableId(input.immutableId));
    if (input.phoneNumber !== undefined) fail(checkPhoneNumber(input.phoneNumber));
  }

  /**
   * Updates (renames, resets the password of, restores) a user. Partner Center's order: customer (403 20002),
   * GDAP role (403), user lookup (404 60002), body (`read`: 400 800002), property rules (400 3000 / 409), the
   * admin-on-admin rule (403), then the change. A deleted user is addressable only by a body with `state`.
   */
  async update(actor: Actor, customerId: string, userId: string, read: () => UserInput, within?: Within<UserRecord>): Promise<UserRecord> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    // The roles needed depend on what the body asks for; a body that cannot be read is refused only after the
    // role check and the user lookup, and asks (for the role check) for an update.
    let input: UserInput | undefined;
    let unreadable: unknown;
    try {
      input = read();
    } catch (err) {
      unreadable = err;
    }
    const wantsBasic = input !== undefined &&
      [input.displayName, input.firstName, input.lastName, input.usageLocation, input.immutableId, input.phoneNumber, input.userPrincipalName].some((v) => v !== undefined);
    const wantsPassword = input !== undefined && input.passwordProfileGiven && (input.password !== undefined || input.forceChangePassword !== undefined);
    const ops: Operation[] = [];
    if (wantsBasic) ops.push('updateUser');
    if (wantsPassword) ops.push('resetPassword');
    requireRoles(roles, ops.length > 0 ? ops : ['updateUser']);

    /** The checks that follow the user lookup, in Partner Center's order; returns the input once it is sound. */
    const check = (user: UserRecord | undefined): { user: UserRecord; input: UserInput } => {
      if (!user) throw userNotFound();
      if (input === undefined) throw unreadable;
      if (user.state === 'inactive' && input.state === undefined) throw userNotFound();
      if (user.state === 'inactive') requireRoles(roles, ['restoreUser']);
      if (input.state !== undefined) fail(checkState(input.state));
      if (input.displayName !== undefined) fail(checkDisplayName(input.displayName));
      this.checkCommonFields(input);
      if (input.password !== undefined) fail(checkPassword(input.password));
      if (input.password !== undefined && user.userDomainType === 'federated') {
        fail({ property: 'passwordProfile.password', rule: 'federated', message: "the user belongs to a federated domain: its password is managed by the domain's identity provider" });
      }
      if (input.userPrincipalName !== undefined) fail(checkUserPrincipalName(input.userPrincipalName));
      return { user, input };
    };
    // A new password is hashed (scrypt, tens of milliseconds) before the transaction, once the user and the body
    // have passed the checks: that needs a first look at the user. Without a password, the checks run only on the
    // user as read in the transaction, and the first look is saved.
    let passwordHash: string | undefined;
    if (input?.password !== undefined) {
      const { input: sound } = check(await this.findUser(this.store, customer.id, userId));
      passwordHash = sound.password === undefined ? undefined : await hashSecret(sound.password);
    }

    // Concurrent changes of one user share a transaction where that saves round trips (Store.changeTogether): this
    // function may run twice (once joined, then alone), and it makes its writes inside combineWrites.
    return this.store.changeTogether(`${customer.id}\n${userId.toLowerCase()}`, async (tx) => {
      /** The user after the change, and what the change is. */
      const plan = (before: UserRecord, input: UserInput) => {
        const restoring = before.state === 'inactive';

        const after: UserRecord = { ...before };
        if (input.displayName !== undefined) after.displayName = input.displayName.trim();
        if (input.firstName !== undefined) after.firstName = emptyToNull(input.firstName);
        if (input.lastName !== undefined) after.lastName = emptyToNull(input.lastName);
        if (input.usageLocation !== undefined) after.usageLocation = normaliseUsageLocation(input.usageLocation);
        if (input.immutableId !== undefined) after.immutableId = input.immutableId;
        if (input.phoneNumber !== undefined) after.phoneNumber = input.phoneNumber;
        const renaming = input.userPrincipalName !== undefined && input.userPrincipalName !== before.upn;
        if (renaming) after.upn = input.userPrincipalName ?? before.upn;
        // A federated user renamed onto a (necessarily managed) domain of the customer is no longer federated.
        if (renaming && before.userDomainType === 'federated') after.userDomainType = 'none';
        if (passwordHash !== undefined) after.passwordHash = passwordHash;
        if (input.forceChangePassword !== undefined) after.forceChangePassword = input.forceChangePassword;
        if (restoring) {
          after.state = 'active';
          after.softDeletionTime = null;
        }
        const basicChanged =
          after.displayName !== before.displayName || after.firstName !== before.firstName || after.lastName !== before.lastName ||
          after.usageLocation !== before.usageLocation || after.immutableId !== before.immutableId || after.phoneNumber !== before.phoneNumber;
        const passwordChanged = passwordHash !== undefined || after.forceChangePassword !== before.forceChangePassword;
        // Frozen, as the store keeps it: its audit value, rendered below, then serves as the next change's old value.
        Object.freeze(after);
        return { after, restoring, renaming, basicChanged, passwordChanged };
      };
      // The user is read so that concurrent changes of a user apply one after the other, each planned from the
      // result of the one before, whichever instance runs them: SQLite's transactions run one at a time; on
      // PostgreSQL the read either takes the row lock (SELECT … FOR UPDATE) or, when no other change of the user is
      // under way here, notes the row's version, and the change is written only if the row is still that version
      // (else it runs again under the lock; Store.changeTogether).
      const { user: before, input } = check(await this.findUser(tx, customer.id, userId, true));
      const { after, restoring, renaming, basicChanged, passwordChanged } = plan(before, input);

      const sensitive: SensitiveAction[] = [];
      if (passwordChanged) sensitive.push('resetPassword');
      if (renaming) sensitive.push('changeUserPrincipalName');
      if (after.immutableId !== before.immutableId) sensitive.push('changeImmutableId');
      if (after.phoneNumber !== before.phoneNumber) sensitive.push('changePhoneNumber');
      if (restoring) sensitive.push('restore');
      if (sensitive.length > 0) requireMayActOnTarget(roles, await tx.userRoleIds(before.id), sensitive);
      if (renaming) await this.checkNewUpn(tx, customer, after.upn, before.id);

      const entries: AuditEntry[] = [];
      const data = userData(after);
      if (restoring) entries.push({ operationType: 'restore_customer_user', resourceType: 'customer_user', resourceId: before.id, oldValue: toAuditValue(before), newValue: toAuditValue(after), customizedData: data });
      if (basicChanged) entries.push({ operationType: 'update_customer_user', resourceType: 'customer_user', resourceId: before.id, oldValue: toAuditValue(before), newValue: toAuditValue(after), customizedData: data });
      if (renaming) entries.push({ operationType: 'update_customer_user_principal_name', resourceType: 'customer_user', resourceId: before.id, oldValue: toAuditValue(before), newValue: toAuditValue(after), customizedData: data });
      if (passwordChanged) entries.push({ operationType: 'reset_customer_user_password', resourceType: 'customer_user', resourceId: before.id, oldValue: null, newValue: null, customizedData: [...data, { key: 'ForceChangePassword', value: String(after.forceChangePassword) }] });
      // The change, its audit records and the caller's writes (the replay record) leave as one statement on
      // PostgreSQL (StoreTx.combineWrites).
      await tx.combineWrites(async () => {
        if (entries.length > 0) {
          await tx.updateUser(after, before);
          await this.audit(tx, actor, customer, entries);
        }
        if (within) await within(tx, after);
      });
      return after;
    });
  }

  async delete(actor: Actor, customerId: string, userId: string, within?: Within<null>): Promise<void> {
    const { customer, roles } = await this.access(this.store, actor, customerId);
    requireRoles(roles, ['deleteUser']);
    await this.store.transaction(async (tx) => {
      const before = await this.activeUser(tx, customer.id, userId, true);
      requireMayActOnTarget(roles, await tx.userRoleIds(before.id), ['delete']);
      const after: UserRecord = { ...before, state: 'inactive', softDeletionTime: isoSeconds(this.now()) };
      await tx.combineWrites(async () => {
        await tx.updateUser(after, before);
        await this.audit(tx, actor, customer, [
          { operationType: 'delete_customer_user', resourceType: 'customer_user', resourceId: before.id, oldValue: toAuditValue(before), newValue: toAuditValue(after), customizedData: userData(after) },
        ]);
        if (within) await within(tx, null);
      });
    });
  }

  private async audit(tx: StoreTx, actor: Actor, customer: CustomerRecord, entries: AuditEntry[]): Promise<void> {
    const now = this.now();
    for (const e of entries) await tx.insertAudit(auditRow(actor, customer, e, now));
  }
}

const upnInUse = (): PartnerKitError =>
  new PartnerKitError('userPrincipalNameInUse', 'The userPrincipalName is already in use by another user of this customer.', {
    data: [{ property: 'userPrincipalName' }],
  });

const emptyToNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

const userData = (u: UserRecord): { key: string; value: string }[] => [
  { key: 'CustomerUserId', value: u.id },
  { key: 'UserPrincipalName', value: u.upn },
];
