import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { Memo } from '../../src/run/memo';
import { tempDir } from '../helpers';

// Results computed once per run: the later scenario gets the outcome and the facts behind it.

function facts(dir: string): { scenario?: string; key: string; value: unknown; measuredFor?: string }[] {
  return readFileSync(join(dir, 'evidence', 'facts.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test('a result computed for one scenario brings its facts, nested ones too, to each later scenario once', async () => {
  const dir = tempDir('memo-');
  const recorder = new Recorder(dir, dir, new Redactor(), () => {});
  const memo = new Memo(recorder);
  let computed = 0;
  const url = () =>
    memo.once('url', async () => {
      computed++;
      recorder.fact('e2e.url', 'https://a.example');
      return 'https://a.example';
    });
  const answer = () =>
    memo.once('answer', async () => {
      await url();
      await new Promise((r) => setTimeout(r, 5));
      recorder.fact('e2e.answer', 200);
      return 200;
    });
  recorder.enter({ pickleId: 'one', name: 'one' });
  assert.equal(await answer(), 200);
  recorder.leave();
  recorder.enter({ pickleId: 'two', name: 'two' });
  assert.equal(await answer(), 200);
  assert.equal(await url(), 'https://a.example');
  assert.equal(await answer(), 200);
  recorder.leave();
  assert.equal(computed, 1);
  assert.deepEqual(
    facts(dir).map((f) => [f.scenario, f.key, f.measuredFor]),
    [
      ['one', 'e2e.url', undefined],
      ['one', 'e2e.answer', undefined],
      ['two', 'e2e.url', 'one'],
      ['two', 'e2e.answer', 'one'],
    ],
  );
});

test('a failed result fails every later scenario that asks, with its facts', async () => {
  const dir = tempDir('memo-');
  const recorder = new Recorder(dir, dir, new Redactor(), () => {});
  const memo = new Memo(recorder);
  const stage = () =>
    memo.once('stage', async () => {
      recorder.fact('wait.reachable', { met: false });
      throw new Error('stage "reachable" did not happen');
    });
  recorder.enter({ pickleId: 'one', name: 'one' });
  await assert.rejects(stage(), /did not happen/);
  recorder.leave();
  recorder.enter({ pickleId: 'two', name: 'two' });
  await assert.rejects(stage(), /did not happen/);
  recorder.leave();
  assert.deepEqual(
    facts(dir).map((f) => [f.scenario, f.key]),
    [
      ['one', 'wait.reachable'],
      ['two', 'wait.reachable'],
    ],
  );
});
