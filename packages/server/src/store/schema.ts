/** Table types of the store, as Kysely sees them. Timestamps are ISO 8601 UTC strings or epoch milliseconds. */
import type { Generated } from 'kysely';

export interface PartnersTable {
  tenant_id: string;
  name: string;
  domain: string;
}
export interface ApplicationsTable {
  client_id: string;
  partner_id: string;
  display_name: string;
  secret_hash: string | null;
}
export interface PartnerGroupsTable {
  id: string;
  partner_id: string;
  display_name: string;
}
export interface PartnerUsersTable {
  id: string;
  partner_id: string;
  upn: string;
  upn_lower: string;
  display_name: string;
  password_hash: string;
  mfa: number;
}
export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}
export interface CustomersTable {
  seq: Generated<number>;
  id: string;
  partner_id: string;
  commerce_id: string;
  company_name: string;
  domain: string;
  relationship_to_partner: string;
  allow_delegated_access: number;
}
export interface CustomerDomainsTable {
  customer_id: string;
  name: string;
  federated: number;
}
export interface UsersTable {
  seq: Generated<number>;
  id: string;
  customer_id: string;
  upn: string;
  upn_lower: string;
  display_name: string;
  display_name_lower: string;
  first_name: string | null;
  last_name: string | null;
  usage_location: string | null;
  immutable_id: string | null;
  phone_number: string | null;
  password_hash: string | null;
  force_change_password: number;
  state: string;
  soft_deletion_time: string | null;
  user_domain_type: string;
  last_directory_sync_time: string | null;
}
export interface UserRolesTable {
  customer_id: string;
  user_id: string;
  role_id: string;
}
export interface GdapRelationshipsTable {
  id: string;
  partner_id: string;
  customer_id: string;
  display_name: string;
  status: string;
  end_date_time: string | null;
  /** JSON array of role template ids. */
  roles: string;
}
export interface GdapAssignmentsTable {
  id: string;
  relationship_id: string;
  group_id: string;
  /** JSON array of role template ids. */
  roles: string;
}
export interface AuditRecordsTable {
  seq: Generated<number>;
  id: string;
  partner_id: string;
  customer_id: string;
  customer_name: string;
  caller_upn: string;
  application_id: string;
  resource_type: string;
  old_value: string | null;
  new_value: string | null;
  operation_type: string;
  correlation_id: string;
  operation_date: string;
  operation_status: string;
  /** JSON array of {key, value}. */
  customized_data: string;
}
export interface IdempotencyTable {
  partner_id: string;
  request_id: string;
  fingerprint: string;
  status: number;
  /** JSON object of response headers. */
  headers: string;
  body: string;
  created_at: number;
  /** Added by migration 002. */
  claim_id: string | null;
}
export interface SigningKeysTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}
export interface ThrottleWindowsTable {
  key: string;
  window_start: number;
  count: number;
}
/** Added by migration 003: failed sign-ins per lockout key (identity/lockout.ts). */
export interface SigninFailuresTable {
  key: string;
  window_start: number;
  count: number;
  /** Epoch ms until which the key is locked; 0 when it never was. */
  locked_until: number;
  /** How many times the key was locked (the next lock lasts longer). */
  lockouts: number;
  updated_at: number;
}
export interface RefreshTokensTable {
  token_hash: string;
  partner_id: string;
  user_id: string;
  client_id: string;
  scope: string;
  expires_at: number;
  used_at: number | null;
}

export interface Database {
  partners: PartnersTable;
  applications: ApplicationsTable;
  partner_groups: PartnerGroupsTable;
  partner_users: PartnerUsersTable;
  group_members: GroupMembersTable;
  customers: CustomersTable;
  customer_domains: CustomerDomainsTable;
  users: UsersTable;
  user_roles: UserRolesTable;
  gdap_relationships: GdapRelationshipsTable;
  gdap_assignments: GdapAssignmentsTable;
  audit_records: AuditRecordsTable;
  idempotency: IdempotencyTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  throttle_windows: ThrottleWindowsTable;
  signin_failures: SigninFailuresTable;
}
