/**
 * @partnerkit/sdk: a fluent TypeScript client for Microsoft Partner Center's customer users, for Node.js 20+
 * and browsers, with no runtime dependencies. It talks to the real Partner Center (the default) and to
 * PartnerKit alike.
 *
 * @packageDocumentation
 */
export { PartnerClient, type PartnerClientOptions, type BuildRequestInit } from './client.js';
export {
  DELETED_USERS_FILTER,
  type AuditRecordsRequestBuilder,
  type CustomerItemRequestBuilder,
  type CustomersRequestBuilder,
  type FieldFilter,
  type ListAuditRecordsOptions,
  type ListCustomersOptions,
  type ListDeletedUsersOptions,
  type ListUsersOptions,
  type ResetPasswordOptions,
  type SortDirection,
  type UserItemRequestBuilder,
  type UserSortField,
  type UsersRequestBuilder,
} from './builders.js';
export type {
  ListOperationOptions,
  OperationOptions,
  Page,
  PagedAsyncIterableIterator,
  PageSettings,
  PrepareOptions,
  RawResponse,
} from './core.js';
export {
  AuthenticationError,
  ClientSecretCredential,
  RefreshTokenCredential,
  UsernamePasswordCredential,
  type AccessToken,
  type ClientSecretCredentialOptions,
  type CredentialOptions,
  type GetTokenOptions,
  type RefreshTokenCredentialOptions,
  type TokenCredential,
  type UsernamePasswordCredentialOptions,
} from './credentials.js';
export { DefaultAuthority, DefaultBaseUrl, PartnerCenterScope } from './defaults.js';
export { PartnerError, type PartnerErrorCategory, type PartnerErrorInit, type RedactedRequest } from './errors.js';
export type { AddedPolicy, FetchLike, PartnerRequest, PipelinePolicy, PipelineRequest, PipelineResponse, PolicyPosition, SendRequest } from './pipeline.js';
export type { Logger } from './policies/log.js';
export { parseRetryAfter, type RetryOptions } from './policies/retry.js';
export { SDK_NAME, SDK_VERSION } from './version.js';
export type {
  AuditRecord,
  Collection,
  CollectionLinks,
  Customer,
  CustomerCompanyProfile,
  CustomerUser,
  CustomerUserCreate,
  CustomerUserPatch,
  DirectoryRole,
  KeyValuePair,
  Link,
  PasswordProfile,
  ResourceAttributes,
  ResourceLinks,
  UserDomainType,
  UserState,
} from '@partnerkit/contract';
