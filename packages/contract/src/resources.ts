/**
 * Partner Center resource shapes for the customer-user slice, defined once as TypeBox schemas.
 * Output property names are camelCase; null-valued properties are omitted on the wire.
 */
import Type from 'typebox';

export const KeyValuePair = Type.Object({ key: Type.String(), value: Type.Union([Type.String(), Type.Null()]) });
export type KeyValuePair = Type.Static<typeof KeyValuePair>;

export const Link = Type.Object({
  uri: Type.String(),
  method: Type.String(),
  headers: Type.Array(KeyValuePair),
});
export type Link = Type.Static<typeof Link>;

export const ResourceLinks = Type.Object({ self: Type.Optional(Link) });
export type ResourceLinks = Type.Static<typeof ResourceLinks>;

export const CollectionLinks = Type.Object({
  self: Type.Optional(Link),
  next: Type.Optional(Link),
  previous: Type.Optional(Link),
});
export type CollectionLinks = Type.Static<typeof CollectionLinks>;

export const ObjectTypes = {
  customerUser: 'CustomerUser',
  collection: 'Collection',
  customer: 'Customer',
  customerCompanyProfile: 'CustomerCompanyProfile',
  auditRecord: 'AuditRecord',
  directoryRole: 'DirectoryRole',
  userMember: 'UserMember',
  license: 'License',
  licenseUpdate: 'LicenseUpdate',
  subscribedSku: 'SubscribedSku',
} as const;
export type ObjectType = (typeof ObjectTypes)[keyof typeof ObjectTypes];

export const ResourceAttributes = Type.Object({
  objectType: Type.String(),
  etag: Type.Optional(Type.String()),
});
export type ResourceAttributes = Type.Static<typeof ResourceAttributes>;

export const UserState = Type.Union([Type.Literal('active'), Type.Literal('inactive')]);
export type UserState = Type.Static<typeof UserState>;

export const UserDomainType = Type.Union([Type.Literal('none'), Type.Literal('managed'), Type.Literal('federated')]);
export type UserDomainType = Type.Static<typeof UserDomainType>;

export const PasswordProfile = Type.Object({
  password: Type.Optional(Type.String()),
  forceChangePassword: Type.Optional(Type.Boolean()),
});
export type PasswordProfile = Type.Static<typeof PasswordProfile>;

/** A customer's user as Partner Center returns it (GET, PATCH, POST, list items). */
export const CustomerUser = Type.Object({
  usageLocation: Type.Optional(Type.String()),
  id: Type.String(),
  userPrincipalName: Type.String(),
  firstName: Type.Optional(Type.String()),
  lastName: Type.Optional(Type.String()),
  displayName: Type.String(),
  immutableId: Type.Optional(Type.String()),
  phoneNumber: Type.Optional(Type.String()),
  lastDirectorySyncTime: Type.Optional(Type.String()),
  userDomainType: UserDomainType,
  state: UserState,
  softDeletionTime: Type.Optional(Type.String()),
  links: ResourceLinks,
  attributes: ResourceAttributes,
});
export type CustomerUser = Type.Static<typeof CustomerUser>;

/**
 * The properties a client may send to create or update a user. Every property is optional and may be null
 * (null and absent both mean "leave unchanged" on PATCH). Read-only properties are listed so that a whole GET
 * result can be sent back; the service ignores them.
 */
const nullable = <T extends Type.TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
export const CustomerUserInput = Type.Object({
  usageLocation: nullable(Type.String()),
  userPrincipalName: nullable(Type.String()),
  firstName: nullable(Type.String()),
  lastName: nullable(Type.String()),
  displayName: nullable(Type.String()),
  immutableId: nullable(Type.String()),
  phoneNumber: nullable(Type.String()),
  passwordProfile: nullable(
    Type.Object({
      password: nullable(Type.String()),
      forceChangePassword: nullable(Type.Boolean()),
    }),
  ),
  state: nullable(Type.String()),
  // read-only: accepted and ignored
  id: nullable(Type.Unknown()),
  userDomainType: nullable(Type.Unknown()),
  lastDirectorySyncTime: nullable(Type.Unknown()),
  softDeletionTime: nullable(Type.Unknown()),
  links: nullable(Type.Unknown()),
  attributes: nullable(Type.Unknown()),
});
export type CustomerUserInput = Type.Static<typeof CustomerUserInput>;

/** What an SDK sends: the writable properties only, camelCase, absent when unchanged. */
export interface CustomerUserPatch {
  usageLocation?: string;
  userPrincipalName?: string;
  firstName?: string;
  lastName?: string;
  displayName?: string;
  immutableId?: string;
  phoneNumber?: string;
  passwordProfile?: PasswordProfile;
  state?: 'active';
}

export interface CustomerUserCreate extends CustomerUserPatch {
  userPrincipalName: string;
  displayName: string;
  passwordProfile: { password: string; forceChangePassword?: boolean };
}

export const CustomerCompanyProfile = Type.Object({
  tenantId: Type.String(),
  domain: Type.String(),
  companyName: Type.String(),
  links: Type.Optional(ResourceLinks),
  attributes: ResourceAttributes,
});
export type CustomerCompanyProfile = Type.Static<typeof CustomerCompanyProfile>;

export const RelationshipToPartner = Type.Union([
  Type.Literal('none'),
  Type.Literal('reseller'),
  Type.Literal('advisor'),
  Type.Literal('syndication'),
  Type.Literal('microsoft_support'),
]);

export const Customer = Type.Object({
  id: Type.String(),
  commerceId: Type.Optional(Type.String()),
  companyProfile: CustomerCompanyProfile,
  relationshipToPartner: Type.String(),
  allowDelegatedAccess: Type.Optional(Type.Boolean()),
  customDomains: Type.Optional(Type.Array(Type.String())),
  links: Type.Optional(ResourceLinks),
  attributes: ResourceAttributes,
});
export type Customer = Type.Static<typeof Customer>;

export const DirectoryRole = Type.Object({
  id: Type.String(),
  name: Type.String(),
  attributes: ResourceAttributes,
});
export type DirectoryRole = Type.Static<typeof DirectoryRole>;

export const UserMember = Type.Object({
  id: Type.String(),
  displayName: Type.Optional(Type.String()),
  userPrincipalName: Type.Optional(Type.String()),
  roleId: Type.Optional(Type.String()),
  attributes: ResourceAttributes,
});
export type UserMember = Type.Static<typeof UserMember>;

export const AuditOperationTypes = [
  'create_customer_user',
  'update_customer_user',
  'update_customer_user_principal_name',
  'reset_customer_user_password',
  'delete_customer_user',
  'restore_customer_user',
  'update_customer_user_licenses',
  'add_user_member',
  'remove_user_member',
] as const;
export type AuditOperationType = (typeof AuditOperationTypes)[number];

export const AuditResourceTypes = ['customer_user', 'license', 'customer_directory_role'] as const;
export type AuditResourceType = (typeof AuditResourceTypes)[number];

export const AuditRecord = Type.Object({
  id: Type.String(),
  partnerId: Type.String(),
  customerId: Type.String(),
  customerName: Type.String(),
  userPrincipalName: Type.String(),
  applicationId: Type.String(),
  resourceType: Type.String(),
  resourceOldValue: Type.Optional(Type.String()),
  resourceNewValue: Type.Optional(Type.String()),
  operationType: Type.String(),
  originalCorrelationId: Type.String(),
  operationDate: Type.String(),
  operationStatus: Type.String(),
  customizedData: Type.Array(KeyValuePair),
  attributes: ResourceAttributes,
});
export type AuditRecord = Type.Static<typeof AuditRecord>;

/** A collection envelope. `totalCount` is the number of items in this page. */
export interface Collection<T> {
  totalCount: number;
  items: T[];
  links?: CollectionLinks;
  continuationToken?: string;
  attributes: { objectType: 'Collection' };
}

export const CollectionOf = <T extends Type.TSchema>(item: T) =>
  Type.Object({
    totalCount: Type.Integer(),
    items: Type.Array(item),
    links: Type.Optional(CollectionLinks),
    continuationToken: Type.Optional(Type.String()),
    attributes: ResourceAttributes,
  });

/** Partner Center's error body ("ApiFault"). `code` is a number on the wire; clients should accept a string. */
export const ApiFault = Type.Object({
  code: Type.Union([Type.Number(), Type.String()]),
  description: Type.String(),
  data: Type.Array(Type.Unknown()),
  source: Type.String(),
});
export type ApiFault = Type.Static<typeof ApiFault>;

/** The gateway's body on 429, which is not an ApiFault. */
export const ThrottleBody = Type.Object({ statusCode: Type.Literal(429), message: Type.String() });
export type ThrottleBody = Type.Static<typeof ThrottleBody>;
