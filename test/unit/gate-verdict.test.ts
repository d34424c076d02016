import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScenarioEvidence, ScenarioStatus } from '../../src/evidence/report';
import { gateVerdict, notRunOf, VALID_FOR_MS } from '../../src/gate/verdict';

// The gate's verdict: never a vacuous pass, never a pass on part of the gate.

const START = '2026-12-07T10:00:00.000Z';
const sc = (name: string, criteria: string[], status: ScenarioStatus, uri = 'features/f.feature') =>
  ({ id: name, name, uri, feature: 'F', tags: criteria.map((c) => `@${c}`), criteria, status, durationMs: 1, facts: {}, commands: [] }) as ScenarioEvidence;
const run = (scenarios: ScenarioEvidence[], target: 'live' | 'lab' = 'live') => ({ target, startedAt: START, scenarios });

test('every scenario of every criterion passed: PASS, counted per criterion', () => {
  const v = gateVerdict(run([sc('a', ['C1'], 'passed'), sc('b', ['C1'], 'passed'), sc('c', ['C2'], 'passed')]), 'W2', ['C1', 'C2']);
  assert.equal(v.pass, true);
  assert.equal(v.line, 'GATE W2: PASS');
  assert.deepEqual(v.byCriterion, { C1: { scenarios: 2, passed: 2 }, C2: { scenarios: 1, passed: 1 } });
  assert.equal(v.missing, undefined, 'no list of missing scenarios without the gate scenarios');
});

test('vacuous: a criterion with no scenario fails the gate', () => {
  assert.equal(gateVerdict(run([sc('a', ['C4'], 'passed')]), 'W5', ['C4', 'C5']).line, 'GATE W5: FAIL (C5: no scenario selected)');
  assert.equal(gateVerdict(run([]), 'W4', ['C4']).line, 'GATE W4: FAIL (C4: no scenario selected)');
  // Known to have no scenario at all: still no pass.
  assert.equal(gateVerdict(run([]), 'W4', ['C4'], { expected: { C4: [] } }).line, 'GATE W4: FAIL (C4: no scenario selected)');
});

test('vacuous: skipped, undefined, pending and broken scenarios fail the gate, each counted', () => {
  for (const st of ['skipped', 'undefined', 'pending', 'broken', 'failed'] as const) {
    const v = gateVerdict(run([sc('a', ['C4'], 'passed'), sc('b', ['C4'], st)]), 'W4', ['C4']);
    assert.equal(v.pass, false, st);
    assert.equal(v.line, `GATE W4: FAIL (C4: 1 ${st})`);
  }
  const all = gateVerdict(
    run([sc('a', ['C1'], 'failed'), sc('b', ['C1'], 'broken'), sc('c', ['C1'], 'skipped'), sc('d', ['C2'], 'undefined'), sc('e', ['C2'], 'pending')]),
    'W2',
    ['C1', 'C2', 'C3'],
  );
  assert.equal(all.line, 'GATE W2: FAIL (C1: 1 failed, 1 broken, 1 skipped; C2: 1 undefined, 1 pending; C3: no scenario selected)');
});

test('incomplete: a scenario of the gate with no result fails the gate, counted and named', () => {
  const expected = {
    C1: ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((name) => ({ uri: 'features/f.feature', name })),
    C2: [{ uri: 'features/g.feature', name: 'x' }],
  };
  const five = ['a', 'b', 'c', 'd', 'e'].map((n) => sc(n, ['C1'], 'passed'));
  const v = gateVerdict(run([...five, sc('x', ['C2'], 'passed', 'features/g.feature')]), 'W2', ['C1', 'C2'], { expected });
  assert.equal(v.pass, false);
  assert.equal(v.line, 'GATE W2: FAIL (C1: 2 of 7 scenarios not run)');
  assert.deepEqual(v.missing, [
    { criterion: 'C1', uri: 'features/f.feature', name: 'f' },
    { criterion: 'C1', uri: 'features/f.feature', name: 'g' },
  ]);
  assert.deepEqual(v.byCriterion.C1, { scenarios: 5, passed: 5, expected: 7, notRun: 2 });
  // With a failure too, and a criterion none of whose scenarios ran.
  const worse = gateVerdict(run([sc('a', ['C1'], 'failed')]), 'W2', ['C1', 'C2'], { expected });
  assert.equal(worse.line, 'GATE W2: FAIL (C1: 1 failed, 6 of 7 scenarios not run; C2: 1 of 1 scenario not run)');
  // The same name in another file is another scenario.
  const elsewhere = gateVerdict(run([sc('x', ['C2'], 'passed', 'features/other.feature')]), 'W9', ['C2'], { expected });
  assert.equal(elsewhere.line, 'GATE W9: FAIL (C2: 1 of 1 scenario not run)');
  // Every one of them there: PASS.
  const whole = gateVerdict(
    run([...five, sc('f', ['C1'], 'passed'), sc('g', ['C1'], 'passed'), sc('x', ['C2'], 'passed', 'features/g.feature')]),
    'W2',
    ['C1', 'C2'],
    {
      expected,
    },
  );
  assert.equal(whole.line, 'GATE W2: PASS');
  assert.deepEqual(whole.missing, []);
});

test('incomplete: the examples of an outline share a name, and each needs a result', () => {
  const row = { uri: 'features/f.feature', name: 'an outline' };
  assert.deepEqual(notRunOf([row, row, row], [row]), [row, row]);
  assert.deepEqual(notRunOf([row], [row, row]), []);
  const v = gateVerdict(run([sc('an outline', ['C6'], 'passed')]), 'W6', ['C6'], { expected: { C6: [row, row] } });
  assert.equal(v.line, 'GATE W6: FAIL (C6: 1 of 2 scenarios not run)');
});

test('an Adversary run that is not cold says so in its PASS; a Builder run does not', () => {
  const passed = run([sc('a', ['C4'], 'passed')]);
  const adversary = gateVerdict(passed, 'W4', ['C4'], { role: 'adversary', notCold: 'the harness has uncommitted changes' });
  assert.equal(adversary.line, 'GATE W4: PASS (not cold: the harness has uncommitted changes)');
  assert.equal(adversary.pass, true);
  assert.equal(adversary.notCold, 'the harness has uncommitted changes');
  const builder = gateVerdict(passed, 'W4', ['C4'], { role: 'builder', notCold: 'the harness has uncommitted changes' });
  assert.equal(builder.line, 'GATE W4: PASS');
  assert.equal(builder.notCold, undefined);
  const cold = gateVerdict(passed, 'W4', ['C4'], { role: 'adversary' });
  assert.equal(cold.line, 'GATE W4: PASS');
  // A FAIL stays a FAIL, cold or not.
  assert.equal(gateVerdict(run([sc('a', ['C4'], 'failed')]), 'W4', ['C4'], { role: 'adversary', notCold: 'x' }).line, 'GATE W4: FAIL (C4: 1 failed)');
});

test('a lab run says LAB — not evidence, pass or fail', () => {
  const pass = gateVerdict(run([sc('a', ['C1'], 'passed')], 'lab'), 'W2', ['C1']);
  assert.equal(pass.line, 'GATE W2: PASS — LAB — not evidence');
  assert.equal(pass.lab, true);
  assert.equal(gateVerdict(run([sc('a', ['C2'], 'failed')], 'lab'), 'W2', ['C2']).line, 'GATE W2: FAIL (C2: 1 failed) — LAB — not evidence');
  assert.equal(gateVerdict(run([sc('a', ['C1'], 'passed')]), 'W2', ['C1']).lab, false);
});

test('the verdict counts until exactly 24 h after the run started', () => {
  const v = gateVerdict(run([sc('a', ['C1'], 'passed')]), 'W2', ['C1']);
  assert.equal(VALID_FOR_MS, 86_400_000);
  assert.equal(v.validUntil, '2026-12-08T10:00:00.000Z');
  assert.equal(Date.parse(v.validUntil) - Date.parse(START), 24 * 3_600_000);
  const odd = gateVerdict({ ...run([]), startedAt: '2026-02-28T23:59:59.123Z' }, 'W2', ['C1']);
  assert.equal(odd.validUntil, '2026-03-01T23:59:59.123Z');
});
