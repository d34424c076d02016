import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AstBuilder, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import { c4ScenarioTags, d8RunProblems } from '../../src/checks/c5';
import { normalised, regex } from '../../src/checks/doc-text';
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

test('a command that places a cert file by hand: cp, mv, install, rsync, scp, tee, cat >, dd of=, where a command stands', () => {
  const command = table('c7_docs.feature', '@c7-no-retired-steps').filter((p) => p.what === 'a command that places a cert file by hand');
  assert.equal(command.length, 1);
  const commands = [
    'install /media/usb/privkey.pem /var/lib/ci-certs/live/',
    'rsync -av /media/usb/certs/ /var/lib/ci-certs/live/',
    'scp laptop:certs/* /var/lib/ci-certs/live/',
    'cp -r certs/ /var/lib/ci-certs/live/',
    'cat > /var/lib/ci-certs/live/fullchain.pem',
    'cat /media/usb/fullchain.pem > /var/lib/ci-certs/live/fullchain.pem',
    'mv /tmp/privkey.pem /var/lib/ci-certs/live/privkey.pem',
    'install -o root -g root -m 0400 /media/usb/privkey.pem /var/lib/ci-certs/live/privkey.pem',
    'cp fullchain.pem privkey.pem "$live"/',
    'dd if=/media/usb/key.bin of=/var/lib/ci-certs/live/privkey.pem',
    'tee /var/lib/ci-certs/live/fullchain.pem',
  ];
  // Each command where a command stands: alone, in a fence among others, in a code span, after a
  // prompt, after sudo or a pipe, as a list item, after a colon. The docs are read normalised,
  // so a line's start in a fence is only a space; the fence itself says it is code.
  const where: [string, (c: string) => string][] = [
    ['alone', (c) => c],
    ['in a fence, after another command', (c) => `Mount the stick:\n\n\`\`\`sh\nmount /dev/sdb1 /media/usb\n${c}\n\`\`\`\n`],
    [
      'in a fence after two others',
      (c) =>
        `\`\`\`sh install-step\ngit clone --recursive x /root/cc-ci\n\`\`\`\n\nThen:\n\n\`\`\`\nmkdir -p /var/lib/ci-certs/live\n${c}\nchmod 0400 x\n\`\`\``,
    ],
    ['in a code span', (c) => `Put the files in place with \`${c}\` before the switch.`],
    ['after a $ prompt, with sudo', (c) => `    $ sudo ${c}`],
    ['after a # prompt', (c) => `\`\`\`console\n# ${c}\n\`\`\``],
    ['after a pipe', (c) => `printf '%s' "$CERT" | sudo ${c}`],
    ['as a list item', (c) => `1. Provision the age key.\n2. ${c}\n3. Switch.`],
    ['on its own line after a colon', (c) => `Copy them from the stick:\n\n    ${c}\n`],
  ];
  for (const c of commands)
    for (const [how, put] of where) {
      const text = put(c);
      const m = regex(command[0]!).exec(normalised(text));
      assert.ok(m, `${how}: ${JSON.stringify(text)}`);
      // The report quotes the match: it begins at the command (or sudo).
      assert.match(m[0], /^(sudo )?(cp|mv|install|rsync|scp|tee|cat|dd) /, `${how}: ${m[0]}`);
    }
  const prose = [
    'cp is not needed: sops-nix links fullchain.pem',
    'Use scp to fetch logs. The fullchain.pem is read by Traefik.',
    'Install: cp is not used; fullchain.pem is a symlink into /run/secrets.',
    'sops-nix will install fullchain.pem as a symlink into /run/secrets.',
    'You no longer cp /media/usb/fullchain.pem /var/lib/ci-certs/live/ by hand.',
    'To look at it: `cat /var/lib/ci-certs/live/fullchain.pem` (a symlink).',
    '```sh\ncp /etc/nixos/a.nix /etc/nixos/b.nix\n```\n\nThe fullchain.pem in /var/lib/ci-certs/live/ is a symlink.',
    '```sh\ngit clone x\n```\n\nthen install the key; sops-nix puts privkey.pem in /var/lib/ci-certs/live/.',
    '`cp` and `scp` are not needed for fullchain.pem or privkey.pem.',
    'dd if=/var/lib/ci-certs/live/privkey.pem of=/dev/null reads the key, and writes nothing.',
  ];
  for (const text of prose) assert.deepEqual(said(command, text), [], JSON.stringify(text));
});

test("the lab's healthy docs say no retired step, and its faults' retired steps are caught as the faults expect", () => {
  const retired = table('c7_docs.feature', '@c7-no-retired-steps');
  const world = join(PROJECT_ROOT, 'lab', 'world');
  const docs = readdirSync(world, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)docs\/[^/]+\.md$/.test(f));
  for (const d of ['install.md', 'secrets.md', 'architecture.md']) assert.ok(docs.includes(join('cc-ci', 'docs', d)), `lab/world/cc-ci/docs/${d}`);
  for (const d of docs) assert.deepEqual(said(retired, readFileSync(join(world, d), 'utf8')), [], d);
  // lab/src/faults.ts: doc-retired-step and doc-retired-step-command append these to install.md;
  // the second fault expects the report to quote the cp command ("cp /media/usb/fullchain.pem").
  const install = readFileSync(join(world, 'cc-ci', 'docs', 'install.md'), 'utf8');
  const told = `${install}\n6. Copy fullchain.pem and privkey.pem from the operator's laptop to /var/lib/ci-certs/live/.\n`;
  assert.ok(said(retired, told).includes('an operator told to copy a cert by hand'));
  const commands = `${install}\n\`\`\`sh\ncp /media/usb/fullchain.pem /var/lib/ci-certs/live/\ninstall -m 0600 /media/usb/privkey.pem /var/lib/ci-certs/live/\n\`\`\`\n`;
  const p = retired.find((r) => r.what === 'a command that places a cert file by hand')!;
  assert.ok(regex(p).exec(normalised(commands))?.[0].startsWith('cp /media/usb/fullchain.pem'));
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
