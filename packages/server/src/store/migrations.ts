/**
 * The one migration set, for SQLite and PostgreSQL alike. Migrations are append-only: never edit one that has
 * shipped; add the next.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

function migration001(dialect: Dialect): Migration {
  const seqColumn = dialect === 'sqlite' ? 'integer' : 'bigserial';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('partners')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('domain', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('partners_domain').on('partners').column('domain').unique().execute();
      await db.schema
        .createTable('applications')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.tenant_id'))
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text')
        .execute();
      await db.schema
        .createTable('partner_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.tenant_id'))
        .addColumn('display_name', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('partner_users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.tenant_id'))
        .addColumn('upn', 'text', (c) => c.notNull())
        .addColumn('upn_lower', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('mfa', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('group_members')
        .addColumn('group_id', 'text', (c) => c.notNull().references('partner_groups.id'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('partner_users.id'))
        .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
        .execute();
      await db.schema.createIndex('group_members_user').on('group_members').column('user_id').execute();
      await db.schema
        .createTable('customers')
        .addColumn('seq', seqColumn, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.tenant_id'))
        .addColumn('commerce_id', 'text', (c) => c.notNull())
        .addColumn('company_name', 'text', (c) => c.notNull())
        .addColumn('domain', 'text', (c) => c.notNull())
        .addColumn('relationship_to_partner', 'text', (c) => c.notNull())
        .addColumn('allow_delegated_access', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('customers_partner').on('customers').columns(['partner_id', 'seq']).execute();
      await db.schema
        .createTable('customer_domains')
        .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('federated', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('customer_domains_pk', ['customer_id', 'name'])
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('seq', seqColumn, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
        .addColumn('upn', 'text', (c) => c.notNull())
        .addColumn('upn_lower', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('display_name_lower', 'text', (c) => c.notNull())
        .addColumn('first_name', 'text')
        .addColumn('last_name', 'text')
        .addColumn('usage_location', 'text')
        .addColumn('immutable_id', 'text')
        .addColumn('phone_number', 'text')
        .addColumn('password_hash', 'text')
        .addColumn('force_change_password', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('soft_deletion_time', 'text')
        .addColumn('user_domain_type', 'text', (c) => c.notNull())
        .addColumn('last_directory_sync_time', 'text')
        .execute();
      await db.schema.createIndex('users_customer_upn').on('users').columns(['customer_id', 'upn_lower']).unique().execute();
      await db.schema.createIndex('users_customer_state_seq').on('users').columns(['customer_id', 'state', 'seq']).execute();
      await db.schema
        .createIndex('users_customer_state_name')
        .on('users')
        .columns(['customer_id', 'state', 'display_name_lower', 'seq'])
        .execute();
      await db.schema
        .createTable('user_roles')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('role_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_roles_pk', ['user_id', 'role_id'])
        .execute();
      await db.schema.createIndex('user_roles_customer_role').on('user_roles').columns(['customer_id', 'role_id']).execute();
      await db.schema
        .createTable('gdap_relationships')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('partner_id', 'text', (c) => c.notNull().references('partners.tenant_id'))
        .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('end_date_time', 'text')
        .addColumn('roles', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gdap_relationships_customer').on('gdap_relationships').column('customer_id').execute();
      await db.schema
        .createTable('gdap_assignments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('relationship_id', 'text', (c) => c.notNull().references('gdap_relationships.id'))
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gdap_assignments_relationship').on('gdap_assignments').column('relationship_id').execute();
      await db.schema
        .createTable('audit_records')
        .addColumn('seq', seqColumn, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('partner_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('customer_name', 'text', (c) => c.notNull())
        .addColumn('caller_upn', 'text', (c) => c.notNull())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('resource_type', 'text', (c) => c.notNull())
        .addColumn('old_value', 'text')
        .addColumn('new_value', 'text')
        .addColumn('operation_type', 'text', (c) => c.notNull())
        .addColumn('correlation_id', 'text', (c) => c.notNull())
        .addColumn('operation_date', 'text', (c) => c.notNull())
        .addColumn('operation_status', 'text', (c) => c.notNull())
        .addColumn('customized_data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_partner_date').on('audit_records').columns(['partner_id', 'operation_date', 'seq']).execute();
      await db.schema
        .createTable('idempotency')
        .addColumn('partner_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('headers', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_pk', ['partner_id', 'request_id'])
        .execute();
      await db.schema.createIndex('idempotency_created').on('idempotency').column('created_at').execute();
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('partner_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
    },
  };
}

/**
 * Several instances on one database: signing keys and throttling windows move into the store, replay records
 * gain the claim of the request that runs them. On PostgreSQL, the columns that lists sort and seek on, and the
 * timestamps compared as text, compare byte-wise (COLLATE "C") as they do in SQLite, whatever the database's
 * default collation.
 */
function migration002(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .execute();
      await db.schema
        .createTable('throttle_windows')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('throttle_windows_start').on('throttle_windows').column('window_start').execute();
      await db.schema.alterTable('idempotency').addColumn('claim_id', 'text').execute();
      if (dialect === 'postgres') {
        const bytewise: [string, string[]][] = [
          ['users', ['upn_lower', 'display_name_lower', 'soft_deletion_time']],
          ['audit_records', ['operation_date']],
        ];
        for (const [table, columns] of bytewise) {
          for (const column of columns) {
            await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type text collate "C"`.execute(db);
          }
        }
      }
    },
  };
}

/**
 * Smart lockout of the token endpoint: failed sign-ins counted per key (a user or client, with or without the
 * source address; see identity/lockout.ts), in the store so that instances sharing a database share the counts.
 */
function migration003(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('signin_failures')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull())
        .addColumn('lockouts', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('signin_failures_updated').on('signin_failures').column('updated_at').execute();
    },
  };
}

/**
 * SQLite: audit records lose the unique index on their id. Nothing reads a record by id; the ids are unique by how
 * they are made (the instant and a counter, one process per data directory), and keeping that index cost each
 * change a write into a B-tree of 160-byte keys spread by customer and user: about 6 % of a PATCH's throughput,
 * measured (docs/performance.md). SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt, keeping
 * every record, its `seq` and the AUTOINCREMENT counter (a `seq` is never given twice). PostgreSQL, where several
 * instances write, keeps its index.
 */
function migration004(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'sqlite') return;
      // The table as it stands, less the constraint (the text migration 001 made).
      const uniqueId = '"id" text not null unique';
      const made = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'audit_records'`.execute(db);
      const ddl = made.rows[0]?.sql ?? '';
      if (!ddl.includes(uniqueId)) throw new Error(`migration 004: audit_records is not as migration 001 made it: ${ddl}`);
      await sql`alter table audit_records rename to audit_records_old`.execute(db);
      await sql.raw(ddl.replace(uniqueId, '"id" text not null')).execute(db);
      await sql`insert into audit_records select * from audit_records_old order by seq`.execute(db);
      // The counter goes on from where the old table's stood (it may be past the last record kept).
      await sql`update sqlite_sequence set seq = max(seq, coalesce((select seq from sqlite_sequence where name = 'audit_records_old'), 0))
        where name = 'audit_records'`.execute(db);
      await sql`insert into sqlite_sequence (name, seq) select 'audit_records', seq from sqlite_sequence
        where name = 'audit_records_old' and not exists (select 1 from sqlite_sequence where name = 'audit_records')`.execute(db);
      await sql`drop table audit_records_old`.execute(db);
      await db.schema.createIndex('audit_partner_date').on('audit_records').columns(['partner_id', 'operation_date', 'seq']).execute();
    },
  };
}

/**
 * SQLite: replay records lose their primary key `(partner_id, request_id)` and gain `seq`, the rowid they are
 * appended in. The key is the client's random MS-RequestId, so its index put each new record on a B-tree page of
 * its own, which the batch's commit wrote to the WAL: about half of SQLite's time per PATCH, measured
 * (docs/performance.md). The store one process owns finds a record by its key in memory instead
 * (store/replay-keys.ts), and keeps a unique index on the key only while it holds more records than that table
 * may (`Store.openReplayRecords`). Every record is kept. PostgreSQL, where several instances claim ids in the
 * store, keeps its key.
 */
function migration005(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'sqlite') return;
      await sql`alter table idempotency rename to idempotency_old`.execute(db);
      await sql`drop index idempotency_created`.execute(db);
      await sql`create table idempotency (
        seq integer primary key, partner_id text not null, request_id text not null, fingerprint text not null,
        status integer not null, headers text not null, body text not null, created_at bigint not null, claim_id text)`.execute(db);
      await sql`insert into idempotency (partner_id, request_id, fingerprint, status, headers, body, created_at, claim_id)
        select partner_id, request_id, fingerprint, status, headers, body, created_at, claim_id from idempotency_old order by created_at`.execute(db);
      await sql`drop table idempotency_old`.execute(db);
      // The purge's index, which also holds the keys (and, as any index, the rowid): the store reads every key at
      // start from it, without reading the records' answers.
      await db.schema.createIndex('idempotency_created').on('idempotency').columns(['created_at', 'partner_id', 'request_id']).execute();
    },
  };
}

export class StaticMigrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve({
      '001_initial': migration001(this.dialect),
      '002_shared_state': migration002(this.dialect),
      '003_signin_failures': migration003(),
      '004_audit_id_not_indexed': migration004(this.dialect),
      '005_replay_keys_in_memory': migration005(this.dialect),
    });
  }
}
