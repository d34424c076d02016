import assert from 'node:assert/strict';
import { execa } from 'execa';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Incus, LABEL, RefusedError } from '../../src/drivers/incus';
import { HostPool } from '../../src/drivers/pool';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { launchInstance, listInstances } from '../../lab/src/incus';
import { Lab } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import { incusFor } from '../../src/tasks/throwaway';
import { acceptance, tempDir } from '../helpers';

let lab: Lab;
const dir = Lab.newDir(`test-throwaway-${process.pid}`);
const HOUR = 3_600_000;

before(async () => {
  lab = await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {});
});
after(async () => {
  await lab?.stop();
});

function incus(): Incus {
  const profile = loadProfile('lab', { LAB_DIR: dir }).profile;
  const runDir = tempDir('incus-');
  return incusFor(profile, new HostPool(profile, new Recorder(runDir, runDir, new Redactor(), () => {})));
}

async function launch(name: string, config: Record<string, string>) {
  await launchInstance(dir, { project: 'terraform-ci', image: 'images:nixos/24.05', name, vm: true, config });
}

test('the harness never changes or deletes an instance it did not create', async () => {
  const i = incus();
  await assert.rejects(i.delete('cc-nix-test'), (e: unknown) => e instanceof RefusedError && /does not carry user\.cc-ci-acceptance\.creator/.test(e.message));
  await assert.rejects(i.setConfig('cc-nix-test', 'limits.memory', '8GiB'), RefusedError);
  assert.equal(await i.configGet('cc-nix-test', 'limits.memory'), '4096MiB');
  await assert.rejects(i.launch('x', 'images:nixos/24.05', { vm: true, config: {} }), /without the harness's labels/);
});

test('the janitor deletes expired labelled instances only: not unlabelled, not unexpired, not operator-kept', async () => {
  const past = new Date(Date.now() - 48 * HOUR);
  await launch('expired-one', Incus.labels('r1', HOUR, past));
  await launch('expired-debug', { ...Incus.labels('r2', HOUR, past), [`${LABEL}.keep`]: 'debugging a failed rebuild' });
  await launch('expired-kept', { ...Incus.labels('r3', HOUR, past), [`${LABEL}.keep`]: 'operator' });
  await launch('fresh-one', Incus.labels('r4', 6 * HOUR));
  await launch('someone-elses', { 'user.owner': 'ops' });
  const janitor = (...args: string[]) =>
    execa(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs'), join(PROJECT_ROOT, 'bin', 'janitor.ts'), ...args],
      {
        cwd: PROJECT_ROOT,
        env: { LAB_DIR: dir },
        reject: false,
      },
    );
  const dry = await janitor('--dry-run');
  assert.equal(dry.exitCode, 0, String(dry.stderr));
  assert.match(String(dry.stdout), /would delete expired-one/);
  assert.equal(listInstances(dir, 'terraform-ci').length, 6, 'a dry run deletes nothing');
  const real = await janitor();
  assert.equal(real.exitCode, 0, String(real.stderr));
  const left = listInstances(dir, 'terraform-ci')
    .map((i) => i.name)
    .sort();
  assert.deepEqual(left, ['cc-nix-test', 'expired-kept', 'fresh-one', 'someone-elses']);
  assert.match(String(real.stdout), /skip +cc-nix-test: not created by this harness/);
});

test('a live profile refuses @mutating scenarios (the throwaway, the !testme) without --allow-mutations, before contacting anything', async () => {
  for (const tags of ['@C4', '@e2e']) {
    const r = await acceptance(['--profile', 'cc-ci', '--tags', tags]);
    assert.equal(r.exitCode, 2, r.output);
    assert.match(r.output, /change the world \(@mutating: .*\); against cc-ci they need --allow-mutations/);
    assert.equal(r.runId, undefined);
  }
});
