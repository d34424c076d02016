import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gateSelection, gateTagExpression, type PlannedScenario, selectionGaps } from '../../src/cli/plan';
import { UsageError } from '../../src/errors';
import { tempDir } from '../helpers';

// --gate runs every scenario of its criteria or nothing: whatever the options given narrow it by
// (a tag, a name, a shard, a feature line, other support code) is refused before anything runs.

const W2 = ['C1', 'C2', 'C3'];
const HEAD = /^--gate W2 selects every scenario of C1, C2, C3/;

async function refused(args: string[]): Promise<string> {
  try {
    await gateSelection('W2', W2, args);
  } catch (e) {
    assert.ok(e instanceof UsageError, `a usage error (exit 2) for ${args.join(' ')}: ${(e as Error).message}`);
    assert.match(e.message, HEAD);
    return e.message;
  }
  assert.fail(`${args.join(' ')} was not refused`);
}

test('the gate selection is every scenario of its criteria, each criterion with its scenarios', async () => {
  assert.equal(gateTagExpression(W2), '@C1 or @C2 or @C3');
  const s = await gateSelection('W2', W2, []);
  assert.ok(s.full.length > 10);
  assert.deepEqual(
    s.planned.map((p) => `${p.uri}: ${p.name}`),
    s.full.map((p) => `${p.uri}: ${p.name}`),
  );
  for (const c of W2) {
    assert.ok(s.expected[c]!.length > 0, c);
    assert.equal(s.expected[c]!.length, s.full.filter((p) => p.tags.includes(`@${c}`)).length);
  }
  assert.ok(s.full.every((p) => W2.some((c) => p.tags.includes(`@${c}`))));
  // Options that do not narrow pass.
  for (const args of [['--dry-run'], ['--order', 'random'], ['features/']]) assert.equal((await gateSelection('W2', W2, args)).planned.length, s.full.length);
});

test('tags and names are refused, in every spelling', async () => {
  for (const args of [['--tags', 'not @C1'], ['--tags=@C2'], ['-t', '@C1'], ['-tnot @C1'], ['--name', 'byte for byte'], ['--name=byte']])
    assert.match(await refused(args), /; it cannot be combined with /);
});

test('a shard is refused', async () => {
  assert.match(await refused(['--shard', '1/2']), /cannot be combined with --shard 1\/2/);
  assert.match(await refused(['--shard=2/3']), /--shard 2\/3/);
});

test('a feature line is refused, naming how many and which scenarios it leaves out', async () => {
  const full = (await gateSelection('W2', W2, [])).full;
  const c1 = full.filter((p) => p.uri === 'features/c1_secrets_repo_split.feature');
  const message = await refused(['features/c1_secrets_repo_split.feature:1']);
  const out = Number(new RegExp(`leave out (\\d+) of its ${full.length} scenario\\(s\\):\n`).exec(message)?.[1]);
  assert.equal(out, c1.length, message);
  for (const p of c1.slice(0, 10)) assert.ok(message.includes(`\n    - ${p.uri}: ${p.name}`), `names ${p.name}`);
});

test("a feature of the gate's criteria from elsewhere is refused: the gate is its own scenarios, no more", async () => {
  const file = join(tempDir('gate-extra-'), 'extra.feature');
  writeFileSync(file, '@C1\nFeature: Extra\n\n  Scenario: a pass from elsewhere\n    Given nothing\n');
  const message = await refused([file]);
  assert.match(message, /add 1 scenario\(s\) that are not the gate's:\n {4}- \S*extra\.feature: a pass from elsewhere/);
});

test('other support code is refused: a gate is judged by the harness own step definitions', async () => {
  assert.match(await refused(['--require', 'features/support/world.ts']), /load other support code/);
  assert.match(await refused(['--import', 'some/where.mjs']), /load other support code/);
});

test('selectionGaps counts each scenario: outline examples share a file and a name', () => {
  const p = (uri: string, name: string): PlannedScenario => ({ uri, name, tags: [] });
  const full = [p('a.feature', 'x'), p('a.feature', 'x'), p('a.feature', 'y'), p('b.feature', 'x')];
  assert.deepEqual(selectionGaps(full, full), { missing: [], extra: [] });
  assert.deepEqual(selectionGaps(full, [p('a.feature', 'x'), p('b.feature', 'x')]), { missing: [p('a.feature', 'x'), p('a.feature', 'y')], extra: [] });
  assert.deepEqual(selectionGaps(full, [...full, p('c.feature', 'x')]), { missing: [], extra: [p('c.feature', 'x')] });
  assert.deepEqual(selectionGaps([p('a.feature', 'x')], [p('b.feature', 'x')]), { missing: [p('a.feature', 'x')], extra: [p('b.feature', 'x')] });
});
