import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GiveUp, poll } from '../../src/wait';

// The one wait primitive: met, unmet at the deadline, and given up by its probe.

test('poll returns the first value, and says how many polls it took', async () => {
  let n = 0;
  const { value, waited } = await poll({ what: 'three', deadlineMs: 5_000, pauseMs: 1 }, async () => (++n === 3 ? 'x' : undefined));
  assert.equal(value, 'x');
  assert.deepEqual([waited.met, waited.polls, waited.gaveUp], [true, 3, undefined]);
});

test('poll probes once more at the deadline, and the wait is unmet', async () => {
  let n = 0;
  const { value, waited } = await poll({ what: 'never', deadlineMs: 60, pauseMs: 20, maxPauseMs: 20 }, async () => {
    n++;
    return undefined;
  });
  assert.equal(value, undefined);
  assert.equal(waited.met, false);
  assert.ok(waited.waitedMs >= 60 && n >= 3, `${n} polls in ${waited.waitedMs} ms`);
});

test('a probe that gives up ends the wait unmet before its deadline, with its reason', async () => {
  const t0 = Date.now();
  const { value, waited } = await poll({ what: 'the app to answer', deadlineMs: 60_000 }, async () => new GiveUp('the build ended'));
  assert.equal(value, undefined);
  assert.deepEqual([waited.met, waited.gaveUp, waited.polls], [false, 'the build ended', 1]);
  assert.ok(Date.now() - t0 < 1_000);
});
