import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { gateVerdict } from '../../src/gate/verdict';
import { faultNamed } from '../../lab/src/faults';
import { Lab } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import { acceptance, renderedReport, tempDir, testReportsDir } from '../helpers';

// The gate protocol: a verdict that never passes vacuously, a claim file from a live run, the
// claim and its rerun compared, and the evidence attached to DECISIONS.md.

const LIVE_SHAPED = join(PROJECT_ROOT, 'test', 'fixtures', 'profiles', 'live-shaped.yaml');
const dir = Lab.newDir(`test-gate-${process.pid}`);
const tmp = tempDir('gate-');

async function bin(name: string, args: string[]): Promise<{ exitCode: number; out: string }> {
  const r = await execa(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs'), join(PROJECT_ROOT, 'bin', `${name}.ts`), ...args],
    { cwd: PROJECT_ROOT, reject: false, all: true, env: { FORCE_COLOR: '0' } },
  );
  return { exitCode: r.exitCode ?? -1, out: String(r.all ?? '') };
}

test('a lab gate says so, passes when every scenario of its criteria passes, and writes no claim', async () => {
  const r = await acceptance(['--gate', 'W2']);
  assert.equal(r.exitCode, 0, r.output);
  assert.match(r.output, /^GATE W2: PASS — LAB — not evidence$/m);
  assert.deepEqual(r.evidence!.gate?.criteria, ['C1', 'C2', 'C3']);
  assert.equal(existsSync(join(testReportsDir(), r.runId!, 'claim.md')), false);
  assert.match(readFileSync(join(testReportsDir(), r.runId!, 'summary.md'), 'utf8'), /\*\*GATE W2: PASS — LAB — not evidence\*\*/);
});

let faultRunId = '';
test('a gate fails naming the criterion that did not hold; its report shows the claim that failed and the commands behind it', async () => {
  const r = await acceptance(['--gate', 'W2', '--fault', 'cert-mismatch']);
  assert.equal(r.exitCode, 1, r.output);
  faultRunId = r.runId!;
  assert.match(r.output, /^GATE W2: FAIL \(C2: 1 failed\) — LAB — not evidence$/m);
  // The Allure report, rendered in headless Chromium as a person would open it.
  const page = await renderedReport(join(testReportsDir(), r.runId!, 'allure-report'), 'Git, disk and port 443 hold one certificate');
  assert.match(page.landing, /cc-ci acceptance: lab gate W2 run \S+ — LAB — not evidence/);
  assert.match(page.landing, /^gate\nW2$/m, 'the environment widget names the gate');
  assert.match(page.landing, /^@C1\n[\s\S]*^@C2\n/m, 'grouped by criterion');
  assert.match(page.overview, /Category: Claims that do not hold \(failed\)/);
  assert.match(
    page.overview,
    /the cert decrypted from git, the cert on disk and the leaf served on 443 are one certificate\n {2}expected: one SHA-256 fingerprint in all four places[^\n]*\n {2}seen: +git ([0-9A-F:]{95})[^\n]*served to the runner (?!\1)[0-9A-F:]{95}/,
  );
  assert.match(page.overview, /parentSuite\n@C2/);
  assert.match(
    page.overview,
    /^cert\.servedToRunner\nfingerprint=[0-9A-F:]{95}, via=127\.0\.10\.3:443$/m,
    'a fact is a parameter of the step that measured it',
  );
  assert.match(page.attachments, /\$ cc-ci: bash -c set -o pipefail; openssl s_client -connect 127\.0\.0\.1:443 [^\n]* — \d{4}-cc-ci\.log/);
});

test('a gate cannot be narrowed: --tags or --name with --gate is refused before anything runs', async () => {
  for (const extra of [['--tags', 'not @C1'], ['--name', 'byte for byte'], ['--tags=@C2']]) {
    const r = await acceptance(['--gate', 'W2', ...extra]);
    assert.equal(r.exitCode, 2, r.output);
    assert.match(r.output, /--gate W2 selects every scenario of C1, C2, C3; it cannot be combined with/);
  }
  const unknown = await acceptance(['--gate', 'W9']);
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.output, /no gate W9 \(gates: W2, W4, W5, W6, E2E\)/);
});

test('a gate of criteria with no scenario selected fails as incomplete, never a vacuous pass', async () => {
  const v = gateVerdict({ target: 'live', startedAt: new Date().toISOString(), scenarios: [{ criteria: ['C4'], status: 'passed' } as never] }, 'W5', [
    'C4',
    'C5',
  ]);
  assert.equal(v.pass, false);
  assert.equal(v.line, 'GATE W5: FAIL (C5: no scenario selected)');
  const skipped = gateVerdict({ target: 'live', startedAt: new Date().toISOString(), scenarios: [{ criteria: ['C4'], status: 'skipped' } as never] }, 'W4', [
    'C4',
  ]);
  assert.equal(skipped.line, 'GATE W4: FAIL (C4: 1 skipped)');
  const adversary = gateVerdict(
    { target: 'live', startedAt: new Date().toISOString(), scenarios: [{ criteria: ['C4'], status: 'passed' } as never] },
    'W4',
    ['C4'],
    { role: 'adversary', notCold: 'the harness has uncommitted changes' },
  );
  assert.equal(adversary.line, 'GATE W4: PASS (not cold: the harness has uncommitted changes)');
});

// The live part: a live-declared profile on a lab of this file's own, started once the lab runs
// above are done (two labs at once would share the loopback addresses).
let lab: Lab | undefined;
const liveLab = async (): Promise<Lab> => (lab ??= await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {}));
after(async () => {
  await lab?.stop();
});

{
  let claim: { runId: string; runDir: string };
  test('a live gate writes claim.md with every field, ready to paste', async () => {
    await liveLab();
    const r = await acceptance(['--profile', LIVE_SHAPED, '--gate', 'W2'], { LAB_DIR: dir, CC_CI_WHO: 'Builder Bea <bea@lab.test>' });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /^GATE W2: PASS$/m);
    claim = { runId: r.runId!, runDir: join(testReportsDir(), r.runId!) };
    const md = readFileSync(join(claim.runDir, 'claim.md'), 'utf8');
    for (const field of [
      /^# GATE W2: PASS$/m,
      /^- Gate: \*\*W2\*\* \(criteria C1, C2, C3\)$/m,
      /^- When: \S+Z to \S+Z \(UTC\); the verdict counts until \*\*\S+Z\*\* \(start \+ 24 h\)$/m,
      /^- Who: Builder Bea <bea@lab\.test>, as the \*\*builder\*\*$/m,
      /^- Target: profile `live-shaped` \(live, /m,
      /^ {2}- cc-ci: root@127\.0\.10\.3:22 over ssh, host key SHA256:\S{43}$/m,
      /^- Harness: `([0-9a-f]{40}|unknown[^`]*)`, tree (clean|\*\*dirty\*\*)$/m,
      /^- base repo: `[0-9a-f]{40}`$/m,
      /^- secrets repo: `[0-9a-f]{40}`$/m,
      /^- Coldness: (cold|not cold: .+) \(harness /m,
      /^\| C1 \| \d+ \| \d+ \| 0 \| 0 \| 0 \|$/m,
      /^- the live host's toplevel \(`live\.toplevel`\): `\/nix\/store\/\S+`$/m,
      /^- its NAR hash, on disk \(`live\.narHashOnDisk`\): `sha256:\w+`$/m,
      /^- the cert from git \(`cert\.git`\): `sha256=[0-9a-f]{64}, fingerprint=/m,
      /^npm run acceptance -- --profile \S+ --gate W2 --role adversary$/m,
    ])
      assert.match(md, field);
    assert.match(readFileSync(join(claim.runDir, 'summary.md'), 'utf8'), /GATE W2: PASS\*\*: counts until \S+Z \(start \+ 24 h\)/);
  });

  let rerunId = '';
  test('compare: a claim and its rerun on the same system back each other; the by-nature differences are listed apart', async () => {
    const r = await acceptance(['--profile', LIVE_SHAPED, '--gate', 'W2'], { LAB_DIR: dir });
    assert.equal(r.exitCode, 0, r.output);
    rerunId = r.runId!;
    const c = await bin('compare', [claim.runId, rerunId, '--reports', testReportsDir()]);
    assert.equal(c.exitCode, 0, c.out);
    assert.match(c.out, /the runs back each other/);
    assert.match(c.out, /^ {2}C1 +A: \d+ passed +B: \d+ passed$/m);
    assert.match(c.out, /^ {2}live\.toplevel: equal \/nix\/store\//m);
    assert.match(c.out, /different by nature \(not counted\):\n[\s\S]*^ {2}run\.sshConnections: /m);
    const json = JSON.parse((await bin('compare', [claim.runId, rerunId, '--reports', testReportsDir(), '--json'])).out);
    assert.equal(json.ok, true);
  });

  test('compare: the live toplevel changed between the claim and the rerun, side by side, exit 1', async () => {
    await faultNamed('toplevel-drift')!.apply(await liveLab());
    const r = await acceptance(['--profile', LIVE_SHAPED, '--tags', '@c1-toplevel-identical'], { LAB_DIR: dir });
    const c = await bin('compare', [claim.runId, r.runId!, '--reports', testReportsDir()]);
    assert.equal(c.exitCode, 1, c.out);
    const before = /^ {2}live\.toplevel \(different\)\n {4}A: (\S+)\n {4}B: (\S+)$/m.exec(c.out);
    assert.ok(before && before[1] !== before[2] && /^\/nix\/store\//.test(before[1]!), c.out);
    assert.match(c.out, /the runs do not back each other:\n[\s\S]*stable fact\(s\) differ: [^\n]*live\.toplevel/);
  });

  test('attach: the evidence folder and a DECISIONS entry in a clone of the base repo, nothing committed', async () => {
    const checkout = join(tmp, 'cc-ci');
    await execa('git', ['clone', '-q', join(dir, 'forge', 'cc-ci.git'), checkout]);
    const r = await bin('attach', [claim.runId, '--to', checkout, '--reports', testReportsDir()]);
    assert.equal(r.exitCode, 0, r.out);
    for (const f of ['summary.md', 'evidence.json', 'claim.md', 'manifest.json', 'allure-report/index.html'])
      assert.ok(existsSync(join(checkout, 'evidence', claim.runId, f)), f);
    assert.match(
      readFileSync(join(checkout, 'DECISIONS.md'), 'utf8'),
      new RegExp(`GATE W2: PASS, as the builder; counts until \\S+\\. Evidence: \\[evidence/${claim.runId}/\\]`),
    );
    assert.match(r.out, /git -C \S+ commit -m "evidence: GATE W2: PASS"/);
    const again = await bin('attach', [claim.runId, '--to', checkout, '--reports', testReportsDir()]);
    assert.equal(again.exitCode, 0, again.out);
    assert.match(again.out, /already has its entry/);
    assert.equal(readFileSync(join(checkout, 'DECISIONS.md'), 'utf8').split(`(evidence/${claim.runId}/claim.md)`).length, 2, 'one entry per run');
    assert.equal(
      String((await execa('git', ['-C', checkout, 'log', '--oneline'])).stdout).split('\n').length,
      String((await execa('git', ['-C', join(dir, 'forge', 'cc-ci.git'), 'log', '--oneline'])).stdout).split('\n').length,
      'no commit',
    );
  });

  test('attach refuses a lab run, a run with faults, and a run whose files changed after it ended', async () => {
    const checkout = join(tmp, 'cc-ci-2');
    await execa('git', ['clone', '-q', join(dir, 'forge', 'cc-ci.git'), checkout]);
    writeFileSync(join(testReportsDir(), rerunId, 'summary.md'), '# edited by hand\n');
    const changed = await bin('attach', [rerunId, '--to', checkout, '--reports', testReportsDir()]);
    assert.equal(changed.exitCode, 1);
    assert.match(changed.out, /its files changed after it ended: summary\.md changed/);
    const refused = await bin('attach', [faultRunId, '--to', checkout, '--reports', testReportsDir()]);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.out, /it is a lab run: not evidence[\s\S]*it had faults applied \(cert-mismatch\)/);
    assert.equal(existsSync(join(checkout, 'evidence', rerunId)), false);
  });
}
