import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { Lab } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import { acceptance, tempDir, testReportsDir } from '../helpers';

// The doctor, and the live code paths: a lab of this test's own, reached through a profile that
// declares itself live (test/fixtures/profiles/live-shaped.yaml). Nothing a live run does may
// depend on the lab's shortcuts; every piece the doctor checks, when missing, is a FAIL row.

const LIVE_SHAPED = join(PROJECT_ROOT, 'test', 'fixtures', 'profiles', 'live-shaped.yaml');
const dir = Lab.newDir(`test-doctor-${process.pid}`);
const tmp = tempDir('doctor-');
let lab: Lab;

before(async () => {
  lab = await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {});
});
after(async () => {
  await lab?.stop();
});

async function doctor(args: string[]): Promise<{ exitCode: number; out: string }> {
  const r = await execa(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs'), join(PROJECT_ROOT, 'bin', 'doctor.ts'), ...args],
    {
      cwd: PROJECT_ROOT,
      reject: false,
      all: true,
      env: { LAB_DIR: dir, FORCE_COLOR: '0' },
    },
  );
  return { exitCode: r.exitCode ?? -1, out: String(r.all ?? '') };
}

/** The live-shaped profile, changed. */
function variant(name: string, change: (p: Record<string, any>) => void): string {
  const p = parse(readFileSync(LIVE_SHAPED, 'utf8'));
  change(p);
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(p));
  return file;
}

const row = (out: string, check: RegExp) => out.split('\n').find((l) => check.test(l)) ?? '';

test('the doctor passes on the lab and on the live-shaped profile, showing each host key', async () => {
  for (const profile of ['lab', LIVE_SHAPED]) {
    const r = await doctor(['--profile', profile]);
    assert.equal(r.exitCode, 0, r.out);
    assert.match(r.out, /^reachable, host key verified +cc-ci +ok: host key SHA256:[A-Za-z0-9+/]{43}/m);
    assert.match(r.out, /^sops +cc-ci +ok: /m);
    assert.match(r.out, /^Gitea token \(the bot\) +gitea +ok: user cc-ci-bot/m);
    assert.match(r.out, /doctor: all \d+ checks passed/);
  }
});

test('the live-shaped profile runs the read-only features through the live code paths, all green', async () => {
  const r = await acceptance(['--profile', LIVE_SHAPED, '--tags', 'not @mutating'], { LAB_DIR: dir });
  assert.equal(r.exitCode, 0, r.output);
  const e = r.evidence!;
  assert.equal(e.target, 'live');
  assert.ok(e.scenarios.length >= 25, `${e.scenarios.length} scenarios`);
  assert.deepEqual(
    e.scenarios.filter((s) => s.status !== 'passed').map((s) => `${s.name}: ${s.status}`),
    [],
  );
  assert.ok(existsSync(join(testReportsDir(), r.runId!, 'doctor.md')), 'the preflight wrote its table');
});

test('each missing piece is a FAIL row that says what to do, and exit 1', async () => {
  const cases: [string, string[], RegExp, RegExp][] = [
    [
      'an unreadable credential',
      ['--profile', variant('no-key', (p) => (p.hosts['cc-ci'].auth.privateKey.file = join(tmp, 'missing-key')))],
      /^credentials and references/,
      /FAIL: hosts\.cc-ci\.auth\.privateKey\.file: cannot read \S+\/missing-key: ENOENT +set the variables and make the files readable that the profile names: hosts\.cc-ci\.auth\.privateKey\.file$/,
    ],
    [
      "a host key that is not the host's",
      ['--profile', variant('pinned', (p) => (p.hosts['cc-ci'].hostKey = { fingerprint: `SHA256:${'A'.repeat(43)}` })), '--tags', '@C1'],
      /^reachable, host key verified +cc-ci/,
      /FAIL: .*HOST KEY MISMATCH.*the server presented ssh-ed25519 SHA256:\S{43}.*check the host key/,
    ],
    [
      'a bad token',
      ['--profile', variant('token', (p) => (p.e2e.gitea.token = { file: writeTo('bad-token', 'not-a-token\n') })), '--tags', '@e2e-non-member'],
      /^Gitea token \(the bot\)/,
      /FAIL: .*401.*renew e2e\.gitea\.token/,
    ],
    [
      'a bad Drone token',
      ['--profile', variant('drone-token', (p) => (p.e2e.drone.token = { file: writeTo('bad-drone-token', 'not-a-token\n') })), '--tags', '@e2e-non-member'],
      /^Drone token +drone/,
      /FAIL: .*401.*renew e2e\.drone\.token/,
    ],
    [
      'a name that resolves elsewhere',
      // The gateway is reached only by the whole pipeline (@e2e-testme); the doctor changes nothing, @mutating or not.
      ['--profile', variant('pin', (p) => (p.e2e.gateway.expect = ['127.0.10.99'])), '--tags', '@e2e-testme'],
      /^e2e\.gateway\.address resolves/,
      /FAIL: 127\.0\.10\.5 -> 127\.0\.10\.5 .*should resolve to 127\.0\.10\.99/,
    ],
  ];
  for (const [what, args, check, says] of cases) {
    const r = await doctor(args);
    assert.equal(r.exitCode, 1, `${what}\n${r.out}`);
    assert.match(row(r.out, check), says, `${what}\n${r.out}`);
  }
  // A tool that cannot run (sops as `nix shell` offline would fail), then put back.
  await lab.sh(
    'cc-ci',
    'printf "#!/bin/sh\\necho error: unable to download >&2\\nexit 1\\n" > /run/sops-gone && chmod 0755 /run/sops-gone && mount --bind /run/sops-gone /usr/local/sbin/sops',
  );
  try {
    const r = await doctor(['--profile', LIVE_SHAPED, '--tags', '@C3']);
    assert.equal(r.exitCode, 1, r.out);
    assert.match(row(r.out, /^sops +cc-ci/), /FAIL: exit 1: error: unable to download +make sops runnable on cc-ci/);
  } finally {
    await lab.sh('cc-ci', 'umount /usr/local/sbin/sops');
  }
  // A tool that is not there at all: cc-ci's stand-ins without sops (links to the rest), so the
  // command is not found (exit 127), then put back.
  await lab.sh(
    'cc-ci',
    `mkdir -p /run/sbin-without-sops && for f in "${PROJECT_ROOT}"/lab/standins/*; do [ "\${f##*/}" = sops ] || ln -sf "$f" /run/sbin-without-sops/; done && mount --bind /run/sbin-without-sops /usr/local/sbin`,
  );
  try {
    assert.notEqual((await lab.sh('cc-ci', 'command -v sops', { check: false })).exitCode, 0, 'sops is gone from cc-ci');
    const r = await doctor(['--profile', LIVE_SHAPED, '--tags', '@C3']);
    assert.equal(r.exitCode, 1, r.out);
    assert.match(row(r.out, /^sops +cc-ci/), /FAIL: exit 127: .*sops.*not found +make sops runnable on cc-ci, or set tools\.sops/);
    assert.match(row(r.out, /^git +builder/), /ok: git version/, 'the rest is still checked');
  } finally {
    await lab.sh('cc-ci', 'umount /usr/local/sbin');
  }
  assert.equal((await lab.sh('cc-ci', 'command -v sops')).exitCode, 0, 'sops is back on cc-ci');
});

test('a live run whose doctor finds something missing runs nothing: every selected scenario is broken with its reason', async () => {
  const pinned = variant('pinned-run', (p) => (p.hosts['cc-ci'].hostKey = { fingerprint: `SHA256:${'A'.repeat(43)}` }));
  const r = await acceptance(['--profile', pinned, '--tags', '@C1'], { LAB_DIR: dir });
  assert.equal(r.exitCode, 1, r.output);
  const e = r.evidence!;
  assert.ok(e.scenarios.length >= 5);
  for (const s of e.scenarios) {
    assert.equal(s.status, 'broken', s.name);
    assert.match(
      s.message!,
      /the doctor found something this scenario needs missing[\s\S]*reachable, host key verified on cc-ci[\s\S]*evidence: \S+\/doctor\.md/,
    );
  }
});

function writeTo(name: string, text: string): string {
  const f = join(tmp, name);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
}
