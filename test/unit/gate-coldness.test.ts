import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { PROJECT_ROOT } from '../../src/paths';
import type { ScenarioEvidence } from '../../src/evidence/report';
import { coldness, type HarnessState } from '../../src/gate/coldness';

// Coldness: what an Adversary's rerun reused. A build host that built nothing reused an earlier
// run's store, unless it is the live host, whose store holds the system it runs by nature.

const START = '2026-12-07T10:00:00.000Z';
const fresh: HarnessState = {
  commit: 'a'.repeat(40),
  dirty: false,
  untracked: 0,
  freshClone: true,
  reflog: ['clone: from https://example.test/harness.git'],
  nodeModules: { fromLockfile: true, installedAt: '2026-12-07T09:58:00.000Z' },
};

type Facts = ScenarioEvidence['facts'];
const withFacts = (facts: Facts) => ({
  startedAt: START,
  runFacts: [],
  scenarios: [
    { id: 's', name: 's', uri: 'f', feature: 'F', tags: ['@C1'], criteria: ['C1'], status: 'passed', durationMs: 1, facts, commands: [] } as ScenarioEvidence,
  ],
});
const comparison = (independentBuild: boolean) => ({ value: { method: 'nix-hash', independentBuild, note: '' } });

test('a fresh clone, node_modules from the lockfile in this run, a build that built: cold', () => {
  const c = coldness(withFacts({ 'build.derivationsBuilt': { value: 12, host: 'builder' }, 'c1.comparison': comparison(true) }), fresh, { liveHost: 'cc-ci' });
  assert.equal(c.cold, true, c.line);
  assert.deepEqual(c.reasons, []);
  assert.match(c.line, /^cold \(harness a{12} fresh clone, clean; node_modules from the lockfile in this run; build host builder built 12 derivation\(s\)\)$/);
  assert.deepEqual(c.build, { derivationsBuilt: 12, host: 'builder', onLiveHost: false });
});

test('a build host other than the live host that built nothing: not cold', () => {
  const c = coldness(withFacts({ 'build.derivationsBuilt': { value: 0, host: 'builder' }, 'c1.comparison': comparison(true) }), fresh, { liveHost: 'cc-ci' });
  assert.equal(c.cold, false);
  assert.deepEqual(c.reasons, ['the build host built nothing: its store already held the toplevel']);
  assert.match(c.line, /^not cold: the build host built nothing: its store already held the toplevel \(/);
  assert.equal(c.build?.onLiveHost, false);
  // Without C1's fact or a live host to compare with, built nothing still counts against it.
  assert.equal(coldness(withFacts({ 'build.derivationsBuilt': { value: 0, host: 'builder' } }), fresh).cold, false);
});

test('the build ran on the live host (C1 says so): built nothing is its nature, said in the line, and the run stays cold', () => {
  const c = coldness(withFacts({ 'build.derivationsBuilt': { value: 0, host: 'cc-ci' }, 'c1.comparison': comparison(false) }), fresh);
  assert.equal(c.cold, true, c.line);
  assert.deepEqual(c.reasons, []);
  assert.match(
    c.line,
    /^cold \(.*; build host cc-ci built 0 derivation\(s\) on the live host itself: its store holds the live toplevel by nature, not a cache of an earlier run\)$/,
  );
  assert.deepEqual(c.build, { derivationsBuilt: 0, host: 'cc-ci', onLiveHost: true });
});

test('the build ran on the live host (the profile says so, as cc-ci.yaml does: roles.build = roles.live): cold', () => {
  const shipped = YAML.parse(readFileSync(join(PROJECT_ROOT, 'profiles', 'cc-ci.yaml'), 'utf8')) as { roles: { live: string; build: string } };
  assert.equal(shipped.roles.build, shipped.roles.live, 'the shipped live profile builds on the live host');
  const c = coldness(withFacts({ 'build.derivationsBuilt': { value: 0, host: 'cc-ci' } }), fresh, { liveHost: 'cc-ci' });
  assert.equal(c.cold, true, c.line);
  assert.match(c.line, /on the live host itself: its store holds the live toplevel by nature/);
  // And one that built something there says where it built.
  const built = coldness(withFacts({ 'build.derivationsBuilt': { value: 3, host: 'cc-ci' } }), fresh, { liveHost: 'cc-ci' });
  assert.match(built.line, /build host cc-ci built 3 derivation\(s\) on the live host itself\)$/);
});

test('the rest of coldness is unchanged by where the build ran', () => {
  const reused = coldness(
    withFacts({
      'build.derivationsBuilt': { value: 0, host: 'cc-ci' },
      'throwaway.created': { value: { name: 'cc-ci-tmp-old', createdAt: '2026-12-07T09:00:00.000Z' } },
    }),
    { ...fresh, dirty: true },
    { liveHost: 'cc-ci' },
  );
  assert.equal(reused.cold, false);
  assert.deepEqual(reused.reasons, ['the harness has uncommitted changes', 'the throwaway cc-ci-tmp-old was not made by this run']);
});

test("the clean clone is recorded: made by this run when it lies in the run's own work dir", () => {
  const runId = '20261207-100000-abcd';
  const ours = coldness({ ...withFacts({ 'clone.commits': { value: { base: 'b', secrets: 's', dir: `/root/acceptance/${runId}/cc-ci` } } }), runId }, fresh);
  assert.equal(ours.cold, true, ours.line);
  assert.deepEqual(ours.clone, { dir: `/root/acceptance/${runId}/cc-ci`, madeByThisRun: true });
  assert.match(ours.line, /clone made by this run/);
  const other = coldness({ ...withFacts({ 'clone.commits': { value: { dir: '/root/acceptance/20261206-000000-0000/cc-ci' } } }), runId }, fresh);
  assert.equal(other.cold, false);
  assert.match(other.line, /not cold: the clone \S+ is not in this run's work dir/);
});
