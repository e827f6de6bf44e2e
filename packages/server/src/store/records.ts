/** The store's records: plain camelCase objects that domain services work with. */

export interface PartnerRecord {
  tenantId: string;
  name: string;
  domain: string;
}
export interface ApplicationRecord {
  clientId: string;
  partnerId: string;
  displayName: string;
  secretHash: string | null;
}
export interface PartnerUserRecord {
  id: string;
  partnerId: string;
  upn: string;
  displayName: string;
  passwordHash: string;
  mfa: boolean;
}
export interface CustomerDomainRecord {
  name: string;
  federated: boolean;
}
export interface CustomerRecord {
  id: string;
  partnerId: string;
  commerceId: string;
  companyName: string;
  domain: string;
  relationshipToPartner: string;
  allowDelegatedAccess: boolean;
}
export interface UserRecord {
  id: string;
  customerId: string;
  upn: string;
  displayName: string;
  firstName: string | null;
  lastName: string | null;
  usageLocation: string | null;
  immutableId: string | null;
  phoneNumber: string | null;
  passwordHash: string | null;
  forceChangePassword: boolean;
  state: 'active' | 'inactive';
  softDeletionTime: string | null;
  userDomainType: 'none' | 'managed' | 'federated';
  lastDirectorySyncTime: string | null;
}
export interface GdapGrant {
  relationshipId: string;
  status: string;
  endDateTime: string | null;
  relationshipRoles: string[];
  assignmentRoles: string[];
}
export interface GdapRelationshipRecord {
  id: string;
  partnerId: string;
  customerId: string;
  displayName: string;
  status: string;
  endDateTime: string | null;
  roles: string[];
}
export interface AuditRecordRow {
  id: string;
  partnerId: string;
  customerId: string;
  customerName: string;
  callerUpn: string;
  applicationId: string;
  resourceType: string;
  oldValue: string | null;
  newValue: string | null;
  operationType: string;
  correlationId: string;
  operationDate: string;
  operationStatus: string;
  customizedData: { key: string; value: string | null }[];
}
export interface IdempotencyRecord {
  partnerId: string;
  requestId: string;
  fingerprint: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  createdAt: number;
  /** Who holds the id while its request runs (a random id per claim); null on records from before claims. */
  claimId: string | null;
}
export interface SigningKeyRecord {
  /** RFC 7638 thumbprint of the public key. */
  kid: string;
  /** The private key, a JSON RSA JWK. */
  privateJwk: string;
  /** The public key as published in the JWKS, JSON. */
  publicJwk: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When it stopped signing (epoch milliseconds); null while it is the active key. */
  retiredAt: number | null;
}
export interface RefreshTokenRecord {
  tokenHash: string;
  partnerId: string;
  userId: string;
  clientId: string;
  scope: string;
  expiresAt: number;
  usedAt: number | null;
}

export type UserSortField = 'creation' | 'displayName' | 'userPrincipalName';
export interface UserPageQuery {
  customerId: string;
  state: 'active' | 'inactive';
  sort: UserSortField;
  descending: boolean;
  /** Seek position: the sort key and seq of the last item of the previous page. */
  after: { key: string; seq: number } | undefined;
  limit: number;
  /** Users soft-deleted before this instant are purged and never returned. */
  purgeBefore: string;
}
export interface UserPageItem {
  user: UserRecord;
  key: string;
  seq: number;
}

export interface AuditQuery {
  partnerId: string;
  from: string;
  to: string;
  customerId?: string;
  resourceType?: string;
  companyNameContains?: string;
  afterSeq: number | undefined;
  limit: number;
}

export interface CustomerFilter {
  field: 'companyName' | 'domain';
  operator: 'equals' | 'startsWith';
  value: string;
}
