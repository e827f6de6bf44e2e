// (b) The bare SQLite update baseline: node:http + better-sqlite3 in WAL mode, synchronous NORMAL, the users
// table of PartnerKit's schema holding the seed user and N bulk users. PATCH runs
// `UPDATE users SET usage_location=? WHERE id=? RETURNING *` and GET `SELECT * FROM users WHERE id=?`, both
// stepped to their end with .all(): a statement left unfinished (.get() on RETURNING) holds a read snapshot and
// stops SQLite's automatic WAL checkpoints.
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { bulkUserRow, USER_COLUMNS, wireUser } from '../lib/users.mjs';
import { args, serveUsers } from './common.mjs';

const a = args();
const file = a.db;
const users = Number(a.users ?? 10000);
const customer = a.customer;
const seedUser = a['seed-user'];
if (!file || !customer || !seedUser) throw new Error('usage: sqlite-baseline.mjs --db FILE --users N --customer ID --seed-user ID [--port N]');
for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });

const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
create table users (
  seq integer primary key autoincrement, id text not null unique, customer_id text not null, upn text not null,
  upn_lower text not null, display_name text not null, display_name_lower text not null, first_name text,
  last_name text, usage_location text, immutable_id text, phone_number text, password_hash text,
  force_change_password integer not null, state text not null, soft_deletion_time text,
  user_domain_type text not null, last_directory_sync_time text);
create unique index users_customer_upn on users (customer_id, upn_lower);
create index users_customer_state_seq on users (customer_id, state, seq);
create index users_customer_state_name on users (customer_id, state, display_name_lower, seq);`);
const insert = db.prepare(`insert into users (${USER_COLUMNS.join(', ')}) values (${USER_COLUMNS.map((c) => `@${c}`).join(', ')})`);
db.transaction(() => {
  insert.run({ ...bulkUserRow(0, customer, null), id: seedUser, upn: 'priya.raman@fabrikam.example', upn_lower: 'priya.raman@fabrikam.example' });
  for (let i = 1; i <= users; i++) insert.run(bulkUserRow(i, customer, null));
})();

const update = db.prepare('update users set usage_location = ? where id = ? returning *');
const select = db.prepare('select * from users where id = ?');

serveUsers(a.port, (method, _customerId, userId, body) => {
  let rows;
  if (method === 'PATCH') {
    const input = JSON.parse(body);
    rows = update.all(input.usageLocation ?? null, userId);
  } else {
    rows = select.all(userId);
  }
  return rows.length === 0 ? [404, '{"code":60002}'] : [200, wireUser(rows[0])];
});
