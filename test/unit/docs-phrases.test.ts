import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AstBuilder, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import { c4ScenarioTags, d8RunProblems } from '../../src/checks/c5';
import { normalised } from '../../src/checks/doc-text';
import { PROJECT_ROOT } from '../../src/paths';

// The doc checks' phrases as the features state them (the tables of c5 and c7), and the D8 run
// rules, against texts that must and must not match.

function table(feature: string, tag: string, step = 0): { what: string; pattern: string }[] {
  const doc = new Parser(new AstBuilder(IdGenerator.uuid()), new GherkinClassicTokenMatcher()).parse(
    readFileSync(join(PROJECT_ROOT, 'features', feature), 'utf8'),
  );
  const sc = doc.feature!.children.map((c) => c.scenario).find((s) => s?.tags.some((t) => t.name === tag))!;
  return sc.steps[step]!.dataTable!.rows.slice(1).map((r) => ({ what: r.cells[0]!.value, pattern: r.cells[1]!.value }));
}

const said = (phrases: { what: string; pattern: string }[], text: string) =>
  phrases.filter((p) => new RegExp(p.pattern, 'im').test(normalised(text))).map((p) => p.what);

test('retired steps: commands and instructions that place a cert by hand are caught, mentions are not', () => {
  const retired = table('c7_docs.feature', '@c7-no-retired-steps');
  const caught = {
    "6. Copy fullchain.pem and privkey.pem from the operator's laptop to /var/lib/ci-certs/live/.": 'an operator told to copy a cert by hand',
    'Then copy the new fullchain.pem\nand privkey.pem to the host.': 'an operator told to copy a cert by hand',
    '```sh\ncp /media/usb/fullchain.pem /var/lib/ci-certs/live/\n```': 'a command that places a cert file by hand',
    'install -m 0600 /media/usb/privkey.pem /var/lib/ci-certs/live/': 'a command that places a cert file by hand',
    'rsync -av certs/fullchain.pem root@cc-ci:/var/lib/ci-certs/live/': 'a command that places a cert file by hand',
    'scp laptop:fullchain.pem /var/lib/ci-certs/live/': 'a command that places a cert file by hand',
    'cat > /var/lib/ci-certs/live/privkey.pem <<EOF': 'a cert file written by hand',
  };
  for (const [text, what] of Object.entries(caught)) assert.ok(said(retired, text).includes(what), `${JSON.stringify(text)} says ${what}`);
  const mentions = [
    'sops-nix puts\nfullchain.pem and privkey.pem in place itself; nobody needs to copy fullchain.pem to the host.',
    'sops-nix will install fullchain.pem as a symlink into /run/secrets.',
    'Traefik reads `/var/lib/ci-certs/live/fullchain.pem` and `privkey.pem`.',
    'Never copy fullchain.pem to another host.',
  ];
  for (const text of mentions) assert.deepEqual(said(retired, text), [], JSON.stringify(text));
});

test('D8 phrases are found across line wraps, spacing and case', () => {
  const forbidden = table('c5_honest_d8.feature', '@c5-d8-says', 1);
  for (const text of ['infeasible by design', 'is infeasible\nby design', 'Infeasible  By\tDesign'])
    assert.deepEqual(said(forbidden, text), ['infeasible by design'], text);
  assert.deepEqual(said(forbidden, 'feasible, by design of the rebuild'), []);
});

test('the run D8 points at must be a live, fault-free, recent run with every C4 scenario passed', () => {
  const c4Tags = c4ScenarioTags();
  assert.ok(c4Tags.length >= 6, c4Tags.join());
  const now = new Date('2026-12-01T12:00:00Z');
  const good = {
    runId: '20261130-100000-abcd',
    target: 'live' as const,
    faults: [],
    harness: { commit: 'a'.repeat(40), dirty: false },
    startedAt: '2026-11-30T10:00:00Z',
    scenarios: c4Tags.map((t) => ({ name: t, tags: ['@C4', t], criteria: ['C4'], status: 'passed' as const, facts: {} })),
  };
  const provenance = { manifestSha: 'f'.repeat(64), evidenceSha: 'f'.repeat(64), commitKnown: true };
  const opts = { c4Tags, now, maxAgeMs: 30 * 86_400_000, provenance };
  assert.deepEqual(d8RunProblems(good as never, good.runId, opts), []);
  const provenanceCases: [string, object, RegExp][] = [
    ['a commit this harness never had', { commitKnown: false }, /harness commit a{12} is not a commit of this harness/],
    ['no manifest beside it', { manifestSha: null }, /no manifest\.json beside it/],
    ['evidence.json edited after the run', { evidenceSha: 'e'.repeat(64) }, /evidence\.json was changed after the run ended/],
  ];
  for (const [what, change, says] of provenanceCases) {
    const problems = d8RunProblems(good as never, good.runId, { ...opts, provenance: { ...provenance, ...change } });
    assert.match(problems.join('; '), says, what);
  }
  const cases: [string, object, RegExp][] = [
    ['a lab run', { target: 'lab' }, /target lab, not live/],
    ['a run with a fault', { faults: [{ name: 'toplevel-drift', kind: 'fault' }] }, /1 fault\(s\) applied: toplevel-drift/],
    ['a run with a fault script', { faults: [{ name: 'x.sh', kind: 'script' }] }, /fault\(s\) applied: x\.sh/],
    ['no harness commit', { harness: { commit: 'unknown (not a git checkout)' } }, /no harness commit/],
    ['an old run', { startedAt: '2026-09-01T00:00:00Z' }, /more than 30 days ago/],
    ['no start time', { startedAt: undefined }, /no start time/],
    ['a C4 scenario missing', { scenarios: good.scenarios.slice(1) }, new RegExp(`no ${c4Tags[0]}`)],
    ['a C4 scenario failed', { scenarios: good.scenarios.map((s, i) => (i === 2 ? { ...s, status: 'failed' } : s)) }, new RegExp(`${c4Tags[2]} failed`)],
    ['another run id', { runId: '20261129-000000-0000' }, /its runId is 20261129-000000-0000/],
  ];
  for (const [what, change, says] of cases) {
    const problems = d8RunProblems({ ...good, ...change } as never, good.runId, opts);
    assert.match(problems.join('; '), says, what);
  }
});
