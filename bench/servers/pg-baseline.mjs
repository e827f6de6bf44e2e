// The bare PostgreSQL update baseline: node:http + node-postgres (a pool of --pool connections, prepared
// statements) on the users table of PartnerKit's schema holding the seed user and N bulk users. PATCH runs
// `UPDATE users SET usage_location=$1 WHERE id=$2 RETURNING *`, GET `SELECT * FROM users WHERE id=$1`.
import pg from 'pg';
import { PG_BULK_INSERT, wireUser, usersTableDdl } from '../lib/users.mjs';
import { args, serveUsers } from './common.mjs';

const a = args();
const users = Number(a.users ?? 10000);
const customer = a.customer;
const seedUser = a['seed-user'];
if (!a.url || !customer || !seedUser) throw new Error('usage: pg-baseline.mjs --url URL --users N --customer ID --seed-user ID [--pool N] [--port N]');

const setup = new pg.Client({ connectionString: a.url });
await setup.connect();
await setup.query(usersTableDdl('postgres'));
await setup.query(
  `insert into users (id, customer_id, upn, upn_lower, display_name, display_name_lower, force_change_password, state, user_domain_type)
   values ($1, $2, 'priya.raman@fabrikam.example', 'priya.raman@fabrikam.example', 'Priya Raman', 'priya raman', 0, 'active', 'none')`,
  [seedUser, customer],
);
await setup.query(PG_BULK_INSERT, [customer, null, 1, users]);
await setup.query('analyze users');
await setup.end();

const pool = new pg.Pool({ connectionString: a.url, max: Number(a.pool ?? 10), application_name: 'pk-bench-baseline' });
const update = { name: 'bench_update', text: 'update users set usage_location = $1 where id = $2 returning *' };
const select = { name: 'bench_select', text: 'select * from users where id = $1' };

serveUsers(a.port, async (method, _customerId, userId, body) => {
  const r = method === 'PATCH'
    ? await pool.query({ ...update, values: [JSON.parse(body).usageLocation ?? null, userId] })
    : await pool.query({ ...select, values: [userId] });
  return r.rows.length === 0 ? [404, '{"code":60002}'] : [200, wireUser(r.rows[0])];
});
