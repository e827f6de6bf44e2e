/**
 * How the store reads node-postgres errors when a statement sent without a transaction fails (store.ts,
 * `OptimisticTx`): an error the database answered means the statement failed whole and can run again; an error of
 * the connection means its fate is unknown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestSchema, type TestDatabase } from '../testing/harness.js';
import { isDatabaseError, isDivisionByZero, isUniqueViolation } from './errors.js';

describe('database errors and connection errors (postgres)', () => {
  let schema: TestDatabase;
  let client: pg.Client;

  before(async () => {
    schema = await createTestSchema();
    client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    await client.query('create table things (id text primary key)');
    await client.query("insert into things values ('a')");
  });
  after(async () => {
    await client.end();
    await schema.drop();
  });

  const failure = async (text: string): Promise<unknown> => {
    try {
      await client.query(text);
    } catch (err) {
      return err;
    }
    assert.fail(`${text} did not fail`);
  };

  test("a division by zero is the database's error, told apart from others", async () => {
    const err = await failure('select 1 / 0');
    assert.equal(isDatabaseError(err), true);
    assert.equal(isDivisionByZero(err), true);
    assert.equal(isUniqueViolation(err), false);
  });

  test("a unique violation is the database's error, not a division by zero", async () => {
    const err = await failure("insert into things values ('a')");
    assert.equal(isDatabaseError(err), true);
    assert.equal(isDivisionByZero(err), false);
  });

  test("a lost connection's errors are not the database's, though EPIPE looks like a SQLSTATE", () => {
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    assert.equal(isDatabaseError(epipe), false);
    assert.equal(isDatabaseError(new Error('Connection terminated unexpectedly')), false);
  });
});
