import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScenarioEvidence } from '../../src/evidence/report';
import { commitsSeen } from '../../src/gate/claim';

// The base and secrets commits a run saw, for claim.md and the Allure report's environment widget.

const run = (facts: ScenarioEvidence['facts'], runFacts: { key: string; value: unknown; at: string }[] = []) => ({
  scenarios: [{ facts } as ScenarioEvidence],
  runFacts,
});

test("the clean build's commits first, else the mirror's and the clone's submodule", () => {
  assert.deepEqual(commitsSeen(run({ 'build.baseCommit': { value: 'b1' }, 'build.secretsCommit': { value: 's1' }, 'base.commit': { value: 'b0' } })), [
    { repo: 'base', commit: 'b1' },
    { repo: 'secrets', commit: 's1' },
  ]);
  assert.deepEqual(commitsSeen(run({ 'base.commit': { value: 'b0' }, 'clone.submodule': { value: { path: 'secrets', gitlink: 's0', checkedOut: 's0' } } })), [
    { repo: 'base', commit: 'b0' },
    { repo: 'secrets', commit: 's0' },
  ]);
});

test('only what the run saw: none, or one of them', () => {
  assert.deepEqual(commitsSeen(run({})), []);
  assert.deepEqual(commitsSeen(run({}, [{ key: 'base.commit', value: 'b2', at: '' }])), [{ repo: 'base', commit: 'b2' }]);
});

test("a gate that builds nothing (W4, W6) names the clean clone's commits", () => {
  assert.deepEqual(commitsSeen(run({ 'clone.commits': { value: { base: 'b3', secrets: 's3' } } })), [
    { repo: 'base', commit: 'b3' },
    { repo: 'secrets', commit: 's3' },
  ]);
  assert.deepEqual(commitsSeen(run({ 'clone.commits': { value: { base: 'b3', secrets: null } } })), [{ repo: 'base', commit: 'b3' }]);
});
