/**
 * RecordedRequestIds: never "no" for an id whose answer may still be stored; "no" for nearly every other id once
 * the answers written before the process started have expired.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RecordedRequestIds } from './recorded-ids.js';

const HOUR = 3_600_000;
const WINDOW = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 29, 8, 0, 0);
const key = (): string => `75c9ffb4-b27f-4abf-9ea9-6dc1d84b2e7c\n${randomUUID()}`;

describe('recorded MS-RequestIds', () => {
  test('every id given is "maybe" for the whole replay window, across the filters of several half-windows', () => {
    const ids = new RecordedRequestIds(WINDOW);
    ids.open(undefined);
    const given: [string, number][] = [];
    for (let i = 0; i < 60_000; i++) {
      const at = T0 + i * 1000; // 60,000 answers over about 17 h: two generations
      const k = key();
      ids.add(k, at);
      given.push([k, at]);
    }
    const now = T0 + 60_000 * 1000;
    for (const [k, at] of given) {
      if (at > now - WINDOW) assert.equal(ids.mayHave(k, now), true, `${k} given at ${String(at)}`);
    }
  });

  test('ids never given are "no" for all but a few per cent', () => {
    const ids = new RecordedRequestIds(WINDOW);
    ids.open(T0 - 2 * WINDOW);
    for (let i = 0; i < 200_000; i++) ids.add(key(), T0 + i);
    let maybe = 0;
    for (let i = 0; i < 20_000; i++) if (ids.mayHave(key(), T0 + HOUR)) maybe++;
    assert.ok(maybe < 20_000 * 0.02, `${String(maybe)} of 20,000 unknown ids were "maybe"`);
  });

  test('every id is "maybe" until the filter is opened, and while answers stored before the start may be alive', () => {
    const ids = new RecordedRequestIds(WINDOW);
    assert.equal(ids.mayHave(key(), T0), true, 'not opened yet');
    const newestStored = T0 - HOUR;
    ids.open(newestStored);
    assert.equal(ids.mayHave(key(), T0), true, 'an answer stored an hour before may still be replayed');
    assert.equal(ids.mayHave(key(), newestStored + WINDOW - 1), true);
    assert.equal(ids.mayHave(key(), newestStored + WINDOW), false, 'every answer stored before the start has expired');
  });

  test('an id is forgotten once its answer has expired', () => {
    const ids = new RecordedRequestIds(WINDOW);
    ids.open(undefined);
    const k = key();
    ids.add(k, T0);
    assert.equal(ids.mayHave(k, T0 + WINDOW - 1), true);
    // Its filter is dropped once all of that filter's answers have expired (at most half a window later).
    assert.equal(ids.mayHave(k, T0 + WINDOW + WINDOW / 2 + 1), false);
  });
});
