// (b) The bare SQLite update baseline: node:http + better-sqlite3 in WAL mode, synchronous NORMAL, the users
// table of PartnerKit's schema holding the seed user and N bulk users. PATCH runs
// `UPDATE users SET usage_location=? WHERE id=? RETURNING *` and GET `SELECT * FROM users WHERE id=?`, both
// stepped to their end with .all(): a statement left unfinished (.get() on RETURNING) holds a read snapshot and
// stops SQLite's automatic WAL checkpoints.
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { bulkUserRow, USER_COLUMNS, wireUser, usersTableDdl } from '../lib/users.mjs';
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
db.exec(usersTableDdl('sqlite'));
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
