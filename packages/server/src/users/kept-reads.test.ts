import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptReads } from './kept-reads.js';

test('a value is found under the version it was kept at, and not under another', () => {
  const kept = new KeptReads<string>(10);
  kept.set(3, 'a', 'A3');
  assert.equal(kept.get(3, 'a'), 'A3');
  assert.equal(kept.get(4, 'a'), undefined);
  assert.equal(kept.get(2, 'a'), undefined);
});

test('keeping a value at a newer version drops every value of the older one', () => {
  const kept = new KeptReads<string>(10);
  kept.set(1, 'a', 'A1');
  kept.set(1, 'b', 'B1');
  kept.set(2, 'b', 'B2');
  assert.equal(kept.size, 1);
  assert.equal(kept.get(2, 'a'), undefined);
  assert.equal(kept.get(2, 'b'), 'B2');
});

test('a read that began under an older version than one already seen is not kept (it may miss that change)', () => {
  const kept = new KeptReads<string>(10);
  kept.set(5, 'a', 'A5');
  kept.set(4, 'b', 'B4');
  assert.equal(kept.get(4, 'b'), undefined);
  assert.equal(kept.get(5, 'b'), undefined);
  assert.equal(kept.get(5, 'a'), 'A5', 'the newer values stay');
});

test('when full, the values kept so far are dropped and the new one is kept', () => {
  const kept = new KeptReads<number>(3);
  for (let i = 0; i < 3; i++) kept.set(1, `k${String(i)}`, i);
  assert.equal(kept.size, 3);
  kept.set(1, 'k3', 3);
  assert.equal(kept.size, 1);
  assert.equal(kept.get(1, 'k3'), 3);
  assert.equal(kept.get(1, 'k0'), undefined);
});
