import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FAULTS } from '../../lab/src/faults';
import { PROJECT_ROOT } from '../../src/paths';
import { LAB_ROOT } from '../../lab/src/paths';
import { acceptance, LabSlots, labsAtATime, statusByTag, tempDir, testReportsDir } from '../helpers';

const SCRIPTS = join(PROJECT_ROOT, 'test', 'fixtures', 'fault-scripts');

/** The run's lab was stopped and removed (with no run named: no lab is left at all). */
function noLabLeft(runId?: string): void {
  const left = existsSync(LAB_ROOT) ? readdirSync(LAB_ROOT) : [];
  if (runId) assert.ok(!left.includes(runId), `the lab of run ${runId} was stopped and removed`);
  else assert.deepEqual(left, [], 'the lab was stopped and removed');
}

test('the healthy lab is all green, the run writes every report file, and no secret reaches them', async () => {
  const plaintextsFile = join(tempDir('plaintexts-'), 'plaintexts.json');
  const r = await acceptance(['--fault-script', join(SCRIPTS, 'export-plaintexts.sh')], { PLAINTEXTS_OUT: plaintextsFile });
  assert.equal(r.exitCode, 0, `exit ${r.exitCode}\n${r.output}`);
  const e = r.evidence!;
  assert.ok(e.scenarios.length >= 5);
  assert.deepEqual(
    e.scenarios.filter((s) => s.status !== 'passed').map((s) => `${s.name}: ${s.status}`),
    [],
  );
  const runDir = join(testReportsDir(), r.runId!);
  for (const f of [
    'evidence.json',
    'summary.md',
    'junit.xml',
    'messages.ndjson',
    'allure-report/index.html',
    'allure-results',
    'leak-scan.json',
    'manifest.json',
  ]) {
    assert.ok(existsSync(join(runDir, f)), `${f} exists`);
  }
  // The run's own leak scan: every secret it learned, searched in every file and the console, found nowhere.
  const scan = JSON.parse(readFileSync(join(runDir, 'leak-scan.json'), 'utf8')) as {
    hits: unknown[];
    errors: unknown[];
    coverage: { files: number; secrets: number };
  };
  assert.deepEqual([scan.hits, scan.errors], [[], []]);
  assert.ok(scan.coverage.files > 20 && scan.coverage.secrets >= 3, JSON.stringify(scan.coverage));
  assert.equal(readlinkSync(join(testReportsDir(), 'latest')), r.runId);
  assert.equal(e.target, 'lab');
  assert.equal(e.profile.name, 'lab');
  assert.match(e.harness.commit, /^[0-9a-f]{40}$|^unknown/);
  assert.deepEqual(
    e.faults.map((f) => f.name),
    ['export-plaintexts.sh'],
  );
  const top = e.scenarios.find((s) => s.tags.includes('@c1-toplevel-identical'))!;
  assert.equal(top.facts['build.toplevel']!.value, top.facts['live.toplevel']!.value);
  assert.match(String(top.facts['build.toplevel']!.value), /^\/nix\/store\/[0-9a-z]{32}-nixos-system-cc-ci/);
  assert.match(String(top.facts['build.baseCommit']!.value), /^[0-9a-f]{40}$/);
  assert.match(String(top.facts['build.secretsCommit']!.value), /^[0-9a-f]{40}$/);
  assert.deepEqual(e.runFacts.find((f) => f.key === 'run.sshConnections')?.value, { builder: 1, 'cc-ci': 1 });
  // Every command is one evidence file; each one a scenario ran is also an Allure attachment.
  const commands = readFileSync(join(runDir, 'evidence', 'commands.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(readdirSync(join(runDir, 'commands')).length, commands.length);
  const attached = new Set<string>();
  const collect = (steps: { attachments?: { name: string }[]; steps?: unknown[] }[] = []): void =>
    steps.forEach((st) => {
      for (const a of st.attachments ?? []) attached.add(a.name.split(' — ').pop()!);
      collect(st.steps as never);
    });
  for (const f of readdirSync(join(runDir, 'allure-results')).filter((f) => f.endsWith('-result.json'))) {
    collect(JSON.parse(readFileSync(join(runDir, 'allure-results', f), 'utf8')).steps);
  }
  assert.deepEqual(
    [...attached].filter((n) => n.endsWith('.log')).sort(),
    commands
      .filter((c) => c.scenario)
      .map((c) => c.file.replace('commands/', ''))
      .sort(),
  );
  assert.match(readFileSync(join(runDir, 'summary.md'), 'utf8'), /\| C1 \| The clean clone rebuilds the live host's system, byte for byte \| ✅ passed \|/);
  for (const c of ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'e2e'])
    assert.ok(
      e.scenarios.some((s) => s.criteria.includes(c)),
      `${c} ran`,
    );
  // The E2E's evidence: the build number, the public URL, the leaf seen through the gateway, each wait.
  const testme = e.scenarios.find((s) => s.tags.includes('@e2e-testme'))!;
  assert.match(String((testme.facts['e2e.build']!.value as { number: number }).number), /^\d+$/);
  assert.match(String(testme.facts['e2e.url']!.value), /^https:\/\/cust-[0-9a-f]{6}\.ci\.lab\.test$/);
  // A scenario that relies on the !testme's pickup holds that fact too, marked as measured for the !testme.
  const nonMember = e.scenarios.find((s) => s.tags.includes('@e2e-non-member'))!;
  assert.deepEqual(nonMember.facts['e2e.build'], { ...testme.facts['e2e.build'], measuredFor: testme.id });
  const answer = testme.facts['e2e.publicAnswer']!.value as { status: number; address: string; fingerprint256: string };
  assert.deepEqual([answer.status, answer.address], [200, '127.0.10.5']);
  assert.match(answer.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  for (const stage of ['picked up', 'pending reported', 'deployed', 'reachable', 'built', 'undeployed', 'reported']) {
    const w = testme.facts[`wait.${stage}`]?.value as { waitedMs: number; deadlineMs: number; met: boolean } | undefined;
    assert.ok(w?.met && w.waitedMs <= w.deadlineMs, `wait ${stage}: ${JSON.stringify(w)}`);
    assert.match(
      r.output,
      new RegExp(`^e2e: waiting for "${stage}" \\(deadline \\d+(\\.\\d)?s\\)$[\\s\\S]*^e2e: "${stage}" after \\d+(\\.\\d)?s of \\d+(\\.\\d)?s$`, 'm'),
      `progress of ${stage}`,
    );
  }
  noLabLeft();

  // No secret plaintext of the lab, nor its base64 form, in any report file or the console.
  const secrets = JSON.parse(readFileSync(plaintextsFile, 'utf8')) as Record<string, string>;
  const needles = Object.entries(secrets).flatMap(([name, value]) => [
    [name, value],
    [`${name} (base64)`, Buffer.from(value).toString('base64')],
    ...value
      .split('\n')
      .filter((l) => l.length >= 20 && !l.startsWith('-----'))
      .map((l) => [`${name} (a line)`, l]),
  ]) as [string, string][];
  const files = listFiles(runDir);
  assert.ok(files.length > 20);
  for (const file of [...files, '(console)']) {
    const text = file === '(console)' ? r.output : readFileSync(file, 'latin1');
    for (const [name, needle] of needles) assert.ok(!text.includes(needle), `${name} leaked into ${file}`);
  }
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? listFiles(join(dir, d.name)) : [join(dir, d.name)]));
}

// Each fault on a lab of its own, started fresh; LABS labs at a time, on 127.0.10.N, 127.0.11.N, ….
const LABS = labsAtATime();
const slots = new LabSlots(LABS);
describe(`the fault matrix, ${LABS} labs at a time`, { concurrency: LABS }, () => {
  for (const fault of FAULTS) {
    const broken = fault.broken ?? [];
    test(`fault ${fault.name} turns ${[...fault.red, ...broken.map((b) => `${b} (broken)`)].join(' ')} red, and only those`, async () => {
      const r = await slots.with((profile) =>
        acceptance(['--profile', profile, '--fault', fault.name, '--tags', fault.criteria.map((c) => `@${c}`).join(' or ')]),
      );
      assert.equal(r.exitCode, 1, r.output);
      assert.ok(r.evidence, `the run wrote its evidence\n${r.output}`);
      const e = r.evidence;
      assert.deepEqual(
        e.faults.map((f) => f.name),
        [fault.name],
      );
      const statuses = statusByTag(e);
      for (const tag of fault.red) assert.equal(statuses.get(tag), 'failed', `${tag} under ${fault.name}\n${r.output}`);
      for (const tag of broken) assert.equal(statuses.get(tag), 'broken', `${tag} under ${fault.name}\n${r.output}`);
      for (const [tag, status] of statuses) if (!fault.red.includes(tag) && !broken.includes(tag)) assert.equal(status, 'passed', `${tag} under ${fault.name}`);
      for (const s of e.scenarios.filter((s) => s.status === 'failed' || s.status === 'broken')) {
        const runDir = join(testReportsDir(), r.runId!).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(s.message!, new RegExp(`\\n {2}expected: .+\\n {2}seen: {5}.+\\n {2}host: {5}.+\\n {2}evidence: ${runDir}/\\S+`), s.message);
      }
      if (fault.says) {
        const messages = e.scenarios.map((s) => s.message ?? '').join('\n');
        assert.match(messages, fault.says, `what ${fault.name} makes the harness say`);
      }
      noLabLeft(r.runId);
    });
  }
});

test('--fault-script runs against the lab with LAB_DIR and lab-exec, and its fault turns the check red', async () => {
  const r = await acceptance(['--fault-script', join(SCRIPTS, 'live-hotfix.sh'), '--tags', '@C1']);
  assert.equal(r.exitCode, 1, r.output);
  const statuses = statusByTag(r.evidence!);
  assert.equal(statuses.get('@c1-toplevel-identical'), 'failed');
  assert.equal(statuses.get('@c1-gitlink'), 'passed');
  assert.deepEqual(
    r.evidence!.faults.map((f) => [f.kind, f.name, f.exitCode]),
    [['script', 'live-hotfix.sh', 0]],
  );
  noLabLeft();
});

test('a host the harness cannot reach is broken, not failed, and says which host', async () => {
  const r = await acceptance(['--fault-script', join(SCRIPTS, 'live-sshd-down.sh'), '--tags', '@c1-toplevel-identical or @c1-gitlink']);
  assert.equal(r.exitCode, 1, r.output);
  const top = r.evidence!.scenarios.find((s) => s.tags.includes('@c1-toplevel-identical'))!;
  assert.equal(top.status, 'broken');
  assert.match(top.message!, /cannot connect to root@127\.0\.10\.3:22 over ssh: (connection refused|the connection closed before the SSH handshake)/);
  assert.match(top.message!, /host: +cc-ci/);
  assert.equal(statusByTag(r.evidence!).get('@c1-gitlink'), 'passed');
  noLabLeft();
});

test('--list-faults names every fault with the criteria it turns red', async () => {
  const r = await acceptance(['--list-faults']);
  assert.equal(r.exitCode, 0);
  for (const f of FAULTS) assert.match(r.output, new RegExp(`^${f.name} +${f.criteria.join(', ')}`, 'm'));
});

test('every tag a fault names exists on a scenario of its criteria', () => {
  const features = readdirSync(join(PROJECT_ROOT, 'features')).filter((f) => f.endsWith('.feature'));
  const text = features.map((f) => readFileSync(join(PROJECT_ROOT, 'features', f), 'utf8')).join('\n');
  for (const f of FAULTS) for (const tag of [...f.red, ...(f.broken ?? [])]) assert.match(text, new RegExp(`${tag}\\b`), `${f.name}: ${tag}`);
});

test('under --destroy passing the throwaway of a passing run is deleted; --destroy never keeps it, labelled', async () => {
  const passing = await acceptance(['--tags', '@c6-throwaway-size']);
  assert.equal(passing.exitCode, 0, passing.output);
  assert.ok(
    passing.evidence!.runFacts.some((f) => f.key === 'throwaway.deleted'),
    passing.output,
  );
  const never = await acceptance(['--tags', '@c6-throwaway-size', '--destroy', 'never']);
  assert.equal(never.exitCode, 0, never.output);
  const kept = never.evidence!.runFacts.find((f) => f.key === 'throwaway.kept')?.value as { why: string; expires: string } | undefined;
  assert.equal(kept?.why, '--destroy never');
  assert.match(never.output, /kept the throwaway VM cc-ci-throwaway-\S+ \(--destroy never\); it expires \S+/);
});

test('a failed rebuild keeps its VM for debugging, under the default policy', async () => {
  const r = await acceptance(['--tags', '@c4-running', '--fault', 'wrong-recovery-key']);
  assert.equal(r.exitCode, 1, r.output);
  const kept = r.evidence!.runFacts.find((f) => f.key === 'throwaway.kept')?.value as { why: string } | undefined;
  assert.equal(kept?.why, 'debugging a failed rebuild');
});
