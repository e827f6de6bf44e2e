/**
 * The PostgreSQL store's pool prepares the store's fixed statements once per connection (named statements), runs
 * anything else as before, and keeps working when a table changes shape under a prepared `select *` (another
 * instance migrated).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { PostgresPool } from 'kysely';
import { createTestSchema, type TestDatabase } from '../testing/harness.js';
import { preparingPool } from './postgres.js';
import { FIXED_POSTGRES_SQL } from './store.js';

describe('prepared fixed statements (postgres)', () => {
  let schema: TestDatabase;
  let pool: pg.Pool;
  let prepared: PostgresPool;

  before(async () => {
    schema = await createTestSchema();
    pool = new pg.Pool({ connectionString: schema.url, max: 1 });
    await pool.query('create table things (id text primary key, n integer not null)');
    await pool.query("insert into things values ('a', 1), ('b', 2)");
    prepared = preparingPool(pool);
  });
  after(async () => {
    await pool.end();
    await schema.drop();
  });

  const preparedTexts = async (client: Awaited<ReturnType<PostgresPool['connect']>>): Promise<string[]> =>
    (await client.query<{ statement: string }>('select statement from pg_prepared_statements', [])).rows.map((r) => r.statement);

  test('a fixed statement is prepared on its first call and reused; other statements are not prepared', async () => {
    const fixed = 'select n from things where id = $1';
    const other = 'select n + 0 as n from things where id = $1';
    FIXED_POSTGRES_SQL.add(fixed);
    const client = await prepared.connect();
    try {
      assert.deepEqual((await client.query(fixed, ['a'])).rows, [{ n: 1 }]);
      assert.deepEqual((await client.query(fixed, ['b'])).rows, [{ n: 2 }]);
      assert.deepEqual((await client.query(other, ['b'])).rows, [{ n: 2 }]);
      const texts = await preparedTexts(client);
      assert.equal(texts.filter((t) => t === fixed).length, 1, texts.join('\n'));
      assert.equal(texts.includes(other), false);
    } finally {
      client.release();
    }
  });

  test('a prepared select * whose table gained a column meanwhile is answered, unprepared from then on', async () => {
    const star = 'select * from things where id = $1';
    FIXED_POSTGRES_SQL.add(star);
    const client = await prepared.connect();
    try {
      assert.deepEqual((await client.query(star, ['a'])).rows, [{ id: 'a', n: 1 }]);
      await client.query('alter table things add column note text', []);
      assert.deepEqual((await client.query(star, ['a'])).rows, [{ id: 'a', n: 1, note: null }]);
      assert.deepEqual((await client.query(star, ['b'])).rows, [{ id: 'b', n: 2, note: null }]);
    } finally {
      client.release();
    }
  });
});
