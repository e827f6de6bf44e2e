/**
 * The fluent request builders: `partner.customers.byId(c).users.byId(u)` and so on. Builders are path objects
 * only: creating and navigating them does no I/O. Each verb sends one request (or, for listings, one per
 * page); each verb has a `to…Request()` twin that only builds the request, for dry runs and tests.
 */
import type {
  AuditRecord,
  Customer,
  CustomerUser,
  CustomerUserCreate,
  CustomerUserPatch,
  DirectoryRole,
} from '@partnerkit/contract';
import type {
  ClientCore,
  ListOperationOptions,
  OperationOptions,
  PagedAsyncIterableIterator,
  PageSettings,
  PrepareOptions,
  QueryValues,
} from './core.js';
import type { PartnerRequest } from './pipeline.js';
import { requireId, setHeader } from './util.js';

/** A filter as Partner Center takes it (sent as `{"Field":…,"Value":…,"Operator":…}`). */
export interface FieldFilter<TField extends string = string> {
  /** e.g. `UserState`, `CustomerId`, `CompanyName`. */
  field: TField;
  value: string;
  operator: 'equals' | 'starts_with' | 'substring';
}

/** What users can be sorted by (`sortField`). */
export type UserSortField = 'DisplayName' | 'UserPrincipalName';
/** `sortDirection` (default ascending). */
export type SortDirection = 'Ascending' | 'Descending';

/** Options of `users.list()`. */
export interface ListUsersOptions extends ListOperationOptions {
  /** Users per page (`size`); the service's default when absent (Partner Center serves at most 500). */
  pageSize?: number | undefined;
  /** Sort order (default: the service's, creation order in PartnerKit). */
  sortField?: UserSortField | undefined;
  sortDirection?: SortDirection | undefined;
  /** A raw user filter; `listDeleted()` sets the deleted-users one. */
  filter?: FieldFilter | undefined;
}

/** Options of `users.listDeleted()`. */
export type ListDeletedUsersOptions = Omit<ListUsersOptions, 'filter'>;

/** Options of `customers.list()`. */
export interface ListCustomersOptions extends ListOperationOptions {
  /** Customers per page (`size`). */
  pageSize?: number | undefined;
  /** Partner Center filters customers with `starts_with` on CompanyName or Domain. */
  filter?: FieldFilter<'CompanyName' | 'Domain' | 'IndirectReseller' | 'IndirectCloudSolutionProvider'> | undefined;
}

/** Options of `auditRecords.list()`. */
export interface ListAuditRecordsOptions extends ListOperationOptions {
  /** First day (a `yyyy-mm-dd` string is sent as is; a Date as its UTC date, or as ISO 8601 when it has a time). */
  startDate: Date | string;
  /** Last day (included); default: as far as the service allows. */
  endDate?: Date | string | undefined;
  /** One of: `CustomerId` equals, `ResourceType` equals, `CompanyName` substring. */
  filter?: FieldFilter<'CompanyName' | 'CustomerId' | 'ResourceType'> | undefined;
  /** Records per page (`size`). */
  pageSize?: number | undefined;
}

/** A new password for `resetPassword()`. */
export interface ResetPasswordOptions {
  /** It must meet Entra's policy (8–256 characters, three of four character classes). */
  password: string;
  /** Make the user change it at the next sign-in. Not sent when absent. */
  forceChangePassword?: boolean | undefined;
}

/** The deleted-users filter Partner Center documents. */
export const DELETED_USERS_FILTER: FieldFilter = { field: 'UserState', value: 'Inactive', operator: 'equals' };

const USER_PROPERTIES = ['usageLocation', 'userPrincipalName', 'firstName', 'lastName', 'displayName', 'immutableId', 'phoneNumber'] as const;

/**
 * The JSON body of a user create or update: camelCase, only the writable properties the caller set (never
 * read-only ones, never undefined or null).
 */
export function userBody(user: CustomerUserPatch): Record<string, unknown> {
  const src = user as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of USER_PROPERTIES) {
    const v = src[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  const pp = src.passwordProfile;
  if (typeof pp === 'object' && pp !== null) {
    const p = pp as Record<string, unknown>;
    const profile: Record<string, unknown> = {};
    if (p.password !== undefined && p.password !== null) profile.password = p.password;
    if (p.forceChangePassword !== undefined && p.forceChangePassword !== null) profile.forceChangePassword = p.forceChangePassword;
    out.passwordProfile = profile;
  }
  if (src.state !== undefined && src.state !== null) out.state = src.state;
  return out;
}

const filterJson = (f: FieldFilter): string => JSON.stringify({ Field: f.field, Value: f.value, Operator: f.operator });

function pageSize(n: number | undefined, what: string): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a whole number ≥ 1`);
  return n;
}

/** `yyyy-mm-dd` for a date at UTC midnight, ISO 8601 otherwise; strings as given. */
export function formatDate(d: Date | string): string {
  if (typeof d === 'string') return d;
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid Date');
  const iso = d.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

/** The first request of a listing, or the resumed one when `continuationToken` is given. */
function firstPage(core: ClientCore, path: string, query: QueryValues, settings: PageSettings, options: PrepareOptions): PartnerRequest {
  const size = pageSize(settings.maxPageSize, 'maxPageSize');
  const q: QueryValues = { ...query };
  if (size !== undefined) q.size = size;
  if (settings.continuationToken === undefined) return core.prepare('GET', core.url(path, q), undefined, options);
  q.seekOperation = 'Next';
  const request = core.prepare('GET', core.url(path, q), undefined, options);
  setHeader(request.headers, 'MS-ContinuationToken', settings.continuationToken);
  return request;
}

const seg = (id: string, what: string): string => encodeURIComponent(requireId(id, what));

/** `partner.customers` */
export interface CustomersRequestBuilder {
  /** The customer with this tenant id (no I/O). */
  byId(customerId: string): CustomerItemRequestBuilder;
  /** Every customer of the partner, page by page. */
  list(options?: ListCustomersOptions): PagedAsyncIterableIterator<Customer>;
  /** The first page's request of `list(options)`. */
  toListRequest(options?: Omit<ListCustomersOptions, keyof ListOperationOptions> & PrepareOptions): PartnerRequest;
}

/** `partner.customers.byId(customerId)` */
export interface CustomerItemRequestBuilder {
  /** The customer's tenant id. */
  readonly customerId: string;
  /** The customer's users (no I/O). */
  readonly users: UsersRequestBuilder;
  /** The customer (with `companyProfile.domain`, `customDomains`, `allowDelegatedAccess`). */
  get(options?: OperationOptions): Promise<Customer>;
  /** The request `get()` sends. */
  /** The request `get()` sends. */
  toGetRequest(options?: PrepareOptions): PartnerRequest;
}

/** `partner.customers.byId(customerId).users` */
export interface UsersRequestBuilder {
  /** The customer's tenant id. */
  readonly customerId: string;
  /** The user with this object id (no I/O). */
  byId(userId: string): UserItemRequestBuilder;
  /** Creates a user; resolves with it (its new `id`, `state: 'active'`). */
  create(user: CustomerUserCreate, options?: OperationOptions): Promise<CustomerUser>;
  /** The request `create()` sends. */
  toCreateRequest(user: CustomerUserCreate, options?: PrepareOptions): PartnerRequest;
  /** Every active user, following `links.next` to the last page. */
  list(options?: ListUsersOptions): PagedAsyncIterableIterator<CustomerUser>;
  /** The first page's request of `list(options)`. */
  toListRequest(options?: Omit<ListUsersOptions, keyof ListOperationOptions> & PrepareOptions): PartnerRequest;
  /** Every deleted (soft-deleted, restorable) user. */
  listDeleted(options?: ListDeletedUsersOptions): PagedAsyncIterableIterator<CustomerUser>;
  /** The first page's request of `listDeleted(options)`. */
  toListDeletedRequest(options?: Omit<ListDeletedUsersOptions, keyof ListOperationOptions> & PrepareOptions): PartnerRequest;
}

/** `partner.customers.byId(customerId).users.byId(userId)` */
export interface UserItemRequestBuilder {
  /** The customer's tenant id. */
  readonly customerId: string;
  /** The user's object id. */
  readonly userId: string;
  /** The user (an active one: a deleted user is found only by `listDeleted()`). */
  get(options?: OperationOptions): Promise<CustomerUser>;
  toGetRequest(options?: PrepareOptions): PartnerRequest;
  /**
   * Updates the properties given (names, `usageLocation`, `userPrincipalName`, `passwordProfile`, …); the
   * others stay as they are. Resolves with the updated user.
   */
  patch(changes: CustomerUserPatch, options?: OperationOptions): Promise<CustomerUser>;
  /** The request `patch()` sends. */
  toPatchRequest(changes: CustomerUserPatch, options?: PrepareOptions): PartnerRequest;
  /** Deletes the user (soft delete: restorable for 30 days). */
  delete(options?: OperationOptions): Promise<void>;
  /** The request `delete()` sends. */
  toDeleteRequest(options?: PrepareOptions): PartnerRequest;
  /** Restores a deleted user (`PATCH {"state":"active"}`); resolves with it. */
  restore(options?: OperationOptions): Promise<CustomerUser>;
  /** The request `restore()` sends. */
  toRestoreRequest(options?: PrepareOptions): PartnerRequest;
  /** Sets a new password (`PATCH {"passwordProfile":…}`); resolves with the user. */
  resetPassword(profile: ResetPasswordOptions, options?: OperationOptions): Promise<CustomerUser>;
  /** The request `resetPassword()` sends. */
  toResetPasswordRequest(profile: ResetPasswordOptions, options?: PrepareOptions): PartnerRequest;
  /** The directory roles the user holds. */
  listDirectoryRoles(options?: ListOperationOptions): PagedAsyncIterableIterator<DirectoryRole>;
  /** The request `listDirectoryRoles()` sends. */
  toListDirectoryRolesRequest(options?: PrepareOptions): PartnerRequest;
}

/** `partner.auditRecords` */
export interface AuditRecordsRequestBuilder {
  /** The partner's audit records from `startDate`, page by page. */
  list(options: ListAuditRecordsOptions): PagedAsyncIterableIterator<AuditRecord>;
  /** The first page's request of `list(options)`. */
  toListRequest(options: Omit<ListAuditRecordsOptions, keyof ListOperationOptions> & PrepareOptions): PartnerRequest;
}

export function customersBuilder(core: ClientCore): CustomersRequestBuilder {
  return new Customers(core);
}

export function auditRecordsBuilder(core: ClientCore): AuditRecordsRequestBuilder {
  return new AuditRecords(core);
}

class Customers implements CustomersRequestBuilder {
  constructor(private readonly core: ClientCore) {}

  /** The customer with this tenant id. */
  byId(customerId: string): CustomerItemRequestBuilder {
    return new CustomerItem(this.core, requireId(customerId, 'customerId'));
  }

  /** Every customer of the partner, page by page. */
  list(options: ListCustomersOptions = {}): PagedAsyncIterableIterator<Customer> {
    return this.core.pager<Customer>((s) => this.firstPage(options, s), options);
  }

  toListRequest(options: Omit<ListCustomersOptions, keyof ListOperationOptions> & PrepareOptions = {}): PartnerRequest {
    return this.firstPage(options, {});
  }

  private firstPage(o: ListCustomersOptions & PrepareOptions, s: PageSettings): PartnerRequest {
    const query: QueryValues = {};
    if (o.filter) query.filter = filterJson(o.filter);
    return firstPage(this.core, '/customers', query, { ...s, maxPageSize: s.maxPageSize ?? pageSize(o.pageSize, 'pageSize') }, {
      requestId: o.requestId,
      correlationId: o.correlationId,
    });
  }
}

class CustomerItem implements CustomerItemRequestBuilder {
  constructor(
    private readonly core: ClientCore,
    readonly customerId: string,
  ) {}

  /** The customer's users. */
  get users(): UsersRequestBuilder {
    return new Users(this.core, this.customerId);
  }

  private get path(): string {
    return `/customers/${seg(this.customerId, 'customerId')}`;
  }

  /** The customer (with `companyProfile.domain`, `customDomains`, `allowDelegatedAccess`). */
  get(options: OperationOptions = {}): Promise<Customer> {
    return this.core.sendForObject<Customer>(this.toGetRequest(options), options);
  }

  toGetRequest(options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('GET', this.core.url(this.path), undefined, options);
  }
}

class Users implements UsersRequestBuilder {
  constructor(
    private readonly core: ClientCore,
    readonly customerId: string,
  ) {}

  private get path(): string {
    return `/customers/${seg(this.customerId, 'customerId')}/users`;
  }

  /** The user with this object id. */
  byId(userId: string): UserItemRequestBuilder {
    return new UserItem(this.core, this.customerId, requireId(userId, 'userId'));
  }

  /** Creates a user; resolves with it (its new `id`, `state: 'active'`). */
  create(user: CustomerUserCreate, options: OperationOptions = {}): Promise<CustomerUser> {
    return this.core.sendForObject<CustomerUser>(this.toCreateRequest(user, options), options);
  }

  toCreateRequest(user: CustomerUserCreate, options: PrepareOptions = {}): PartnerRequest {
    const body = userBody(user);
    delete body.state;
    return this.core.prepare('POST', this.core.url(this.path), body, options);
  }

  /** Every active user, following `links.next` to the last page. */
  list(options: ListUsersOptions = {}): PagedAsyncIterableIterator<CustomerUser> {
    return this.core.pager<CustomerUser>((s) => this.firstPage(options, s), options);
  }

  /** The first page's request of `list(options)`. */
  toListRequest(options: Omit<ListUsersOptions, keyof ListOperationOptions> & PrepareOptions = {}): PartnerRequest {
    return this.firstPage(options, {});
  }

  /** Every deleted (soft-deleted, restorable) user. */
  listDeleted(options: ListDeletedUsersOptions = {}): PagedAsyncIterableIterator<CustomerUser> {
    return this.list({ ...options, filter: DELETED_USERS_FILTER });
  }

  toListDeletedRequest(options: Omit<ListDeletedUsersOptions, keyof ListOperationOptions> & PrepareOptions = {}): PartnerRequest {
    return this.firstPage({ ...options, filter: DELETED_USERS_FILTER }, {});
  }

  private firstPage(o: ListUsersOptions & PrepareOptions, s: PageSettings): PartnerRequest {
    const query: QueryValues = {};
    if (o.filter) query.filter = filterJson(o.filter);
    if (o.sortField !== undefined) query.sortField = o.sortField;
    if (o.sortDirection !== undefined) query.sortDirection = o.sortDirection;
    return firstPage(this.core, this.path, query, { ...s, maxPageSize: s.maxPageSize ?? pageSize(o.pageSize, 'pageSize') }, {
      requestId: o.requestId,
      correlationId: o.correlationId,
    });
  }
}

class UserItem implements UserItemRequestBuilder {
  constructor(
    private readonly core: ClientCore,
    readonly customerId: string,
    readonly userId: string,
  ) {}

  private get path(): string {
    return `/customers/${seg(this.customerId, 'customerId')}/users/${seg(this.userId, 'userId')}`;
  }

  /** The user (an active one: a deleted user is found only by `listDeleted()`). */
  get(options: OperationOptions = {}): Promise<CustomerUser> {
    return this.core.sendForObject<CustomerUser>(this.toGetRequest(options), options);
  }

  toGetRequest(options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('GET', this.core.url(this.path), undefined, options);
  }

  /**
   * Updates the properties given (names, `usageLocation`, `userPrincipalName`, `passwordProfile`, …); the
   * others stay as they are. Resolves with the updated user.
   */
  patch(changes: CustomerUserPatch, options: OperationOptions = {}): Promise<CustomerUser> {
    return this.core.sendForObject<CustomerUser>(this.toPatchRequest(changes, options), options);
  }

  toPatchRequest(changes: CustomerUserPatch, options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('PATCH', this.core.url(this.path), userBody(changes), options);
  }

  /** Deletes the user (soft delete: restorable for 30 days). */
  async delete(options: OperationOptions = {}): Promise<void> {
    await this.core.send(this.toDeleteRequest(options), options);
  }

  toDeleteRequest(options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('DELETE', this.core.url(this.path), undefined, options);
  }

  /** Restores a deleted user (`PATCH {"state":"active"}`); resolves with it. */
  restore(options: OperationOptions = {}): Promise<CustomerUser> {
    return this.core.sendForObject<CustomerUser>(this.toRestoreRequest(options), options);
  }

  toRestoreRequest(options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('PATCH', this.core.url(this.path), { state: 'active' }, options);
  }

  /** Sets a new password (`PATCH {"passwordProfile":…}`); resolves with the user. */
  resetPassword(profile: ResetPasswordOptions, options: OperationOptions = {}): Promise<CustomerUser> {
    return this.core.sendForObject<CustomerUser>(this.toResetPasswordRequest(profile, options), options);
  }

  toResetPasswordRequest(profile: ResetPasswordOptions, options: PrepareOptions = {}): PartnerRequest {
    requireId(profile.password, 'password');
    const passwordProfile: { password: string; forceChangePassword?: boolean } = { password: profile.password };
    if (profile.forceChangePassword !== undefined) passwordProfile.forceChangePassword = profile.forceChangePassword;
    return this.core.prepare('PATCH', this.core.url(this.path), { passwordProfile }, options);
  }

  /** The directory roles the user holds. */
  listDirectoryRoles(options: ListOperationOptions = {}): PagedAsyncIterableIterator<DirectoryRole> {
    return this.core.pager<DirectoryRole>(() => this.toListDirectoryRolesRequest({ correlationId: options.correlationId }), options);
  }

  toListDirectoryRolesRequest(options: PrepareOptions = {}): PartnerRequest {
    return this.core.prepare('GET', this.core.url(`${this.path}/directoryroles`), undefined, options);
  }
}

class AuditRecords implements AuditRecordsRequestBuilder {
  constructor(private readonly core: ClientCore) {}

  /** The partner's audit records from `startDate`, page by page. */
  list(options: ListAuditRecordsOptions): PagedAsyncIterableIterator<AuditRecord> {
    return this.core.pager<AuditRecord>((s) => this.firstPage(options, s), options);
  }

  toListRequest(options: Omit<ListAuditRecordsOptions, keyof ListOperationOptions> & PrepareOptions): PartnerRequest {
    return this.firstPage(options, {});
  }

  private firstPage(o: Omit<ListAuditRecordsOptions, keyof ListOperationOptions> & PrepareOptions, s: PageSettings): PartnerRequest {
    const query: QueryValues = { startDate: formatDate(o.startDate) };
    if (o.endDate !== undefined) query.endDate = formatDate(o.endDate);
    if (o.filter) query.filter = filterJson(o.filter);
    return firstPage(this.core, '/auditrecords', query, { ...s, maxPageSize: s.maxPageSize ?? pageSize(o.pageSize, 'pageSize') }, {
      requestId: o.requestId,
      correlationId: o.correlationId,
    });
  }
}
