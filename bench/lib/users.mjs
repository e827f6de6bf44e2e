// The bulk users every data set is grown with: the same rows for PartnerKit's SQLite and PostgreSQL stores and
// for the bare baselines. Ids are `0b000000-0000-4000-8000-` + 12 hex digits of 1..N, so the load generator can
// pick a random existing user without a list (see bench/wrk/workload.lua).
export const BULK_ID_PREFIX = '0b000000-0000-4000-8000-';
export const BULK_DOMAIN = 'fabrikamtraders.onmicrosoft.com';
export const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'JP', 'CA', 'AU', 'NL'];

export const bulkId = (i) => `${BULK_ID_PREFIX}${i.toString(16).padStart(12, '0')}`;

/** The columns of PartnerKit's users table for bulk user `i` (1-based), without `seq`. */
export function bulkUserRow(i, customerId, passwordHash) {
  const upn = `bench.user.${i}@${BULK_DOMAIN}`;
  const displayName = `Bench User ${i}`;
  return {
    id: bulkId(i),
    customer_id: customerId,
    upn,
    upn_lower: upn,
    display_name: displayName,
    display_name_lower: displayName.toLowerCase(),
    first_name: 'Bench',
    last_name: `User ${i}`,
    usage_location: COUNTRIES[i % COUNTRIES.length],
    immutable_id: null,
    phone_number: null,
    password_hash: passwordHash,
    force_change_password: 0,
    state: 'active',
    soft_deletion_time: null,
    user_domain_type: 'none',
    last_directory_sync_time: null,
  };
}

export const USER_COLUMNS = Object.keys(bulkUserRow(1, '', null));

/**
 * The baselines' users table: PartnerKit's columns and its indexes on users, for `dialect` 'sqlite' or 'postgres'
 * (only the sequence column differs).
 */
export function usersTableDdl(dialect) {
  const seq = dialect === 'postgres' ? 'seq bigserial primary key' : 'seq integer primary key autoincrement';
  return `
create table users (
  ${seq}, id text not null unique, customer_id text not null, upn text not null,
  upn_lower text not null, display_name text not null, display_name_lower text not null, first_name text,
  last_name text, usage_location text, immutable_id text, phone_number text, password_hash text,
  force_change_password integer not null, state text not null, soft_deletion_time text,
  user_domain_type text not null, last_directory_sync_time text);
create unique index users_customer_upn on users (customer_id, upn_lower);
create index users_customer_state_seq on users (customer_id, state, seq);
create index users_customer_state_name on users (customer_id, state, display_name_lower, seq);`;
}

/**
 * PostgreSQL: inserts bulk users `from..to` in one statement (generate_series), with the same values as
 * bulkUserRow. Parameters: $1 customer id, $2 password hash, $3 from, $4 to.
 */
export const PG_BULK_INSERT = `
insert into users (${USER_COLUMNS.join(', ')})
select '${BULK_ID_PREFIX}' || lpad(to_hex(i), 12, '0'), $1,
       'bench.user.' || i || '@${BULK_DOMAIN}', 'bench.user.' || i || '@${BULK_DOMAIN}',
       'Bench User ' || i, 'bench user ' || i, 'Bench', 'User ' || i,
       (array[${COUNTRIES.map((c) => `'${c}'`).join(',')}])[1 + i % ${COUNTRIES.length}],
       null, null, $2, 0, 'active', null, 'none', null
from generate_series($3::int, $4::int) as i`;

/** A stored user as Partner Center shows it (the shape of PartnerKit's answer), for the bare baselines. */
export function wireUser(r) {
  const out = {};
  if (r.usage_location !== null) out.usageLocation = r.usage_location;
  out.id = r.id;
  out.userPrincipalName = r.upn;
  if (r.first_name !== null) out.firstName = r.first_name;
  if (r.last_name !== null) out.lastName = r.last_name;
  out.displayName = r.display_name;
  out.userDomainType = r.user_domain_type;
  out.state = r.state;
  out.links = { self: { uri: `/customers/${r.customer_id}/users/${r.id}`, method: 'GET', headers: [] } };
  out.attributes = { objectType: 'CustomerUser' };
  return out;
}
