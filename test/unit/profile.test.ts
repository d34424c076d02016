import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { UsageError } from '../../src/errors';
import { builtinProfiles, loadProfile, readSecretRef } from '../../src/profile/load';
import { PROFILES_DIR } from '../../src/paths';
import { acceptance, tempDir } from '../helpers';

const dir = tempDir('profiles-');

/** The lab profile with one change, written to a file. */
function variant(name: string, change: (p: Record<string, any>) => void): string {
  const p = parse(readFileSync(join(PROFILES_DIR, 'lab.yaml'), 'utf8'));
  change(p);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(p));
  return file;
}

function rejects(file: string, field: RegExp): void {
  assert.throws(
    () => loadProfile(file, { LAB_DIR: '/lab' }),
    (e: unknown) => e instanceof UsageError && field.test(e.message),
  );
}

test('the built-in profiles are valid', () => {
  assert.deepEqual(builtinProfiles(), ['cc-ci', 'lab']);
  const lab = loadProfile('lab', { LAB_DIR: '/x' }).profile;
  assert.equal(lab.target, 'lab');
  assert.equal(lab.timeouts.build, 300_000);
  const live = loadProfile('cc-ci').profile;
  assert.equal(live.target, 'live');
  assert.equal(live.domain, 'ci.commoninternet.net');
  assert.equal(live.secrets.names.length, 8);
});

test('a wrong type names the field', () => {
  rejects(
    variant('type', (p) => (p.hosts['cc-ci'].port = 'twenty-two')),
    /hosts\.cc-ci\.port: expected number, received string/,
  );
});

test('a missing field names the field', () => {
  rejects(
    variant('missing', (p) => delete p.repos.base.url),
    /repos\.base\.url: missing/,
  );
});

test('an unknown key names the field', () => {
  rejects(
    variant('unknown', (p) => (p.hosts.builder.pasword = 'x')),
    /hosts\.builder\.pasword: unknown field/,
  );
});

test('a role naming no host, a bad duration and a bad fingerprint are refused', () => {
  rejects(
    variant('role', (p) => (p.roles.live = 'nowhere')),
    /roles\.live: names host "nowhere"/,
  );
  rejects(
    variant('duration', (p) => (p.timeouts.build = '5 minutes')),
    /timeouts\.build: expected a duration/,
  );
  rejects(
    variant('fp', (p) => (p.hosts.forge.hostKey = { fingerprint: 'MD5:aa' })),
    /hosts\.forge\.hostKey/,
  );
});

test('a quiet window shorter than the pickup deadline is refused: a slow bridge would pass for a silent one', () => {
  rejects(
    variant('quiet', (p) => (p.e2e.quietWindow = '3s')),
    /e2e\.quietWindow: is 3s, shorter than e2e\.deadlines\.pickup \(5s\)/,
  );
});

test('credentials come from the environment or files, and a missing one names its field', () => {
  assert.equal(readSecretRef({ env: 'CC_TEST_SECRET' }, 'f', { CC_TEST_SECRET: 'v' }), 'v');
  assert.throws(
    () => readSecretRef({ env: 'CC_TEST_SECRET' }, 'hosts.x.auth.passphrase', {}),
    /hosts\.x\.auth\.passphrase: environment variable CC_TEST_SECRET is not set/,
  );
  assert.throws(() => readSecretRef({ file: '/nonexistent/key' }, 'f'), /f: cannot read \/nonexistent\/key: ENOENT/);
});

test('an invalid profile exits 2 naming the field, before any lab or host is touched', async () => {
  const file = variant('cli', (p) => (p.stacks = 'six'));
  const r = await acceptance(['--profile', file, '--tags', '@C1']);
  assert.equal(r.exitCode, 2, r.output);
  assert.match(r.output, /stacks: expected number, received string/);
  assert.equal(r.runId, undefined, 'no run was started');
  assert.doesNotMatch(r.output, /lab: starting/);
});

test('a live profile whose credential is missing exits 2 naming it, contacting nothing', async () => {
  const file = variant('live-cred', (p) => {
    p.target = 'live';
    p.hosts['cc-ci'].auth = { privateKey: { file: '/nonexistent/id_ed25519' } };
  });
  const r = await acceptance(['--profile', file, '--tags', '@C1']);
  assert.equal(r.exitCode, 2, r.output);
  assert.match(r.output, /hosts\.cc-ci\.auth\.privateKey\.file: cannot read \/nonexistent\/id_ed25519/);
  assert.equal(r.runId, undefined, 'no run was started');
});

test('the live E2E names every credential and reference it cannot read, all at once, contacting nothing', async () => {
  const home = tempDir('empty-home-');
  const r = await acceptance(['--profile', 'cc-ci', '--tags', '@e2e', '--allow-mutations'], {
    HOME: home,
    ...Object.fromEntries(
      ['CC_CI_HOST_AGE_RECIPIENT', 'CC_CI_RECOVERY_AGE_RECIPIENT', 'CC_CI_BOT_GITEA_TOKEN', 'CC_CI_OUTSIDER_GITEA_TOKEN', 'CC_CI_DRONE_TOKEN'].map((v) => [
        v,
        '',
      ]),
    ),
  });
  assert.equal(r.exitCode, 2, r.output);
  for (const field of [
    'hosts.cc-ci.auth.privateKey.file',
    'secrets.recipients.0.env',
    'secrets.recipients.1.env',
    'e2e.gitea.token',
    'e2e.gitea.nonMemberToken',
    'e2e.drone.token',
  ]) {
    assert.match(r.output, new RegExp(`^  - ${field.replace(/\./g, '\\.')}: `, 'm'), field);
  }
  assert.equal(r.runId, undefined, 'no run was started');
});

test('lab faults are refused with a live profile (exit 2)', async () => {
  const r = await acceptance(['--profile', 'cc-ci', '--fault', 'toplevel-drift']);
  assert.equal(r.exitCode, 2, r.output);
  assert.match(r.output, /targets live hosts, which the harness never faults/);
});

test('usage errors exit 2: unknown fault or option, bad tag expression, no matching scenario, missing value', async () => {
  for (const [args, msg] of [
    [['--no-such-option'], /unknown option '--no-such-option'[\s\S]*not an option of this command or of cucumber-js/],
    [['--fault', 'no-such-fault'], /unknown fault no-such-fault/],
    [['--tags', '@C1 and ('], /cucumber options|tag/i],
    [['--tags', '@no-such-tag'], /no scenario matches/],
    [['--profile'], /--profile needs a value/],
    [['--fault-script', '/nonexistent'], /not an executable file/],
    [['--destroy', 'sometimes'], /--destroy: expected passing, always or never/],
    [['--keep', 'Bad Name'], /--keep: Bad Name is not an instance name/],
  ] as const) {
    const r = await acceptance([...args]);
    assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.output}`);
    assert.match(r.output, msg);
  }
});
