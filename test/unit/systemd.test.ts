import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type ExecRequest, Host, type RawResult, type Transport } from '../../src/drivers/host';
import { failedUnitsOf, failedUnitsProblem, SYSTEM_STATES, Systemd, systemStateProblem } from '../../src/drivers/systemd';
import { FAILED_ERROR_NAMES, HostBrokenError } from '../../src/errors';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { PROJECT_ROOT } from '../../src/paths';
import { settle } from '../../src/tasks/throwaway';
import { tempDir } from '../helpers';

// The systemd driver believes systemctl only when it answers: a state word with its exit code, a
// unit list with exit 0 (test/fixtures/reference/systemd, from ../shared/reference/systemd-systemctl.md,
// systemd v255). When the bus cannot be reached, `is-system-running` prints nothing on stdout,
// an error on stderr, and exits 1 (the reference's last row); `--failed` exits non-zero with the
// same error. Those are broken (the harness could not look), never "not running" or "nothing failed".

const REF = join(PROJECT_ROOT, 'test', 'fixtures', 'reference', 'systemd');
const ref = (name: string) => readFileSync(join(REF, name), 'utf8');
/** is-system-running.tsv: each word systemctl prints and its exit code; the last row has no word. */
const words = ref('is-system-running.tsv')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split('\t'))
  .map(([word, code]) => ({ word: word!, exitCode: Number(code) }));

/** What systemctl says when it cannot reach the system bus (bus_log_connect_error: "Failed to connect to bus: %m"). */
const NO_BUS = 'Failed to connect to bus: No such file or directory\n';

const tmp = tempDir('systemd-driver-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A host whose systemctl answers from a table: argv joined by spaces -> the result. */
function hostAnswering(answers: Record<string, Partial<RawResult>>): Host {
  const transport: Transport = {
    kind: 'local',
    describe: 'a table of answers',
    async exec(req: ExecRequest): Promise<RawResult> {
      const a = answers[req.argv.join(' ')];
      if (!a) throw new Error(`no answer for ${req.argv.join(' ')}`);
      return { exitCode: 0, stdout: '', stderr: '', ...a };
    },
    async close() {},
  };
  return new Host('vm', transport, new Recorder(join(tmp, 'run'), join(tmp, 'run'), new Redactor(), () => {}), 30_000);
}

const brokenWith = (seen: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HostBrokenError, `expected HostBrokenError, got ${String(e)}`);
  assert.ok(!FAILED_ERROR_NAMES.test(e.name), 'counted as broken, not failed');
  assert.match(e.detail.seen, seen);
  assert.equal(e.detail.host, 'vm');
  assert.equal(e.detail.evidence?.length, 1);
  return true;
};

describe('systemctl is-system-running', () => {
  test("every state word of the reference, with its exit code, is a state; the reference's empty answer is not", () => {
    assert.deepEqual(
      words.map((w) => w.word).sort(),
      [...SYSTEM_STATES, 'unknown', ''].sort(),
      'the fixture lists the states, unknown, and the answer without a word',
    );
    for (const { word, exitCode } of words) {
      const problem = systemStateProblem({ stdout: word ? `${word}\n` : '', stderr: word ? '' : NO_BUS, exitCode });
      if (SYSTEM_STATES.includes(word)) assert.equal(problem, undefined, word);
      else assert.ok(problem, `${JSON.stringify(word)} is not a state`);
    }
  });

  test('nothing on stdout and the bus error on stderr: broken, saying why', async () => {
    assert.equal(
      systemStateProblem({ stdout: '', stderr: NO_BUS, exitCode: 1 }),
      'systemctl printed no state (exit 1): Failed to connect to bus: No such file or directory',
    );
    const host = hostAnswering({ 'systemctl is-system-running': { exitCode: 1, stdout: '', stderr: NO_BUS } });
    await assert.rejects(new Systemd(host).systemState(), brokenWith(/^systemctl printed no state \(exit 1\): Failed to connect to bus/));
  });

  test('unknown (the bus answered, the state could not be read), a word that is no state, a wrong exit code: broken', () => {
    const warn = 'Failed to query system state: Access denied\n';
    assert.match(
      systemStateProblem({ stdout: 'unknown\n', stderr: warn, exitCode: 1 })!,
      /could not read the manager's state \(unknown, exit 1\): Failed to query system state/,
    );
    assert.match(systemStateProblem({ stdout: 'System has not been booted\n', stderr: '', exitCode: 1 })!, /^not a state word/);
    assert.match(systemStateProblem({ stdout: 'degraded\n', stderr: '', exitCode: 0 })!, /^degraded with exit 0 \(systemctl exits 1 for degraded\)/);
    assert.match(systemStateProblem({ stdout: 'running\n', stderr: '', exitCode: 1 })!, /^running with exit 1/);
    assert.match(systemStateProblem({ stdout: '', stderr: '', exitCode: null, signal: 'SIGKILL' })!, /ended by SIGKILL/);
  });

  test('a state is read as the word: degraded (exit 1) and running (exit 0)', async () => {
    const degraded = hostAnswering({ 'systemctl is-system-running': { exitCode: 1, stdout: 'degraded\n' } });
    assert.equal((await new Systemd(degraded).systemState()).state, 'degraded');
    const running = hostAnswering({ 'systemctl is-system-running': { exitCode: 0, stdout: 'running\n' } });
    assert.equal((await new Systemd(running).systemState()).state, 'running');
  });
});

describe('systemctl --failed --plain --no-legend', () => {
  test("the reference's lines are the failed units; its empty answer (exit 0) is none", async () => {
    const two = ref('failed-plain-no-legend.txt');
    assert.equal(failedUnitsProblem({ stdout: two, stderr: '', exitCode: 0 }), undefined);
    const host = hostAnswering({ 'systemctl --failed --plain --no-legend': { stdout: two } });
    assert.deepEqual((await new Systemd(host).failedUnits()).units, ['nginx.service', 'sops-install-secrets.service']);
    const none = hostAnswering({ 'systemctl --failed --plain --no-legend': { stdout: ref('failed-plain-no-legend-none.txt') } });
    assert.deepEqual((await new Systemd(none).failedUnits()).units, []);
  });

  test('a non-zero exit with an error is broken, not "no failed unit"', async () => {
    const host = hostAnswering({ 'systemctl --failed --plain --no-legend': { exitCode: 1, stderr: NO_BUS } });
    await assert.rejects(new Systemd(host).failedUnits(), brokenWith(/^exit 1: Failed to connect to bus: No such file or directory$/));
    assert.equal(failedUnitsProblem({ stdout: '', stderr: '', exitCode: 1 }), 'exit 1: nothing said');
  });

  test('lines that are not units (the glyph column of a list without --plain) are broken, not unit names', () => {
    const man = ref('list-units-man-sample.txt').split('\n\n')[0]!;
    assert.ok(failedUnitsOf('● user@1000.service loaded failed failed User Manager\n').includes('●'));
    assert.match(
      failedUnitsProblem({ stdout: '● user@1000.service loaded failed failed User Manager\n', stderr: '', exitCode: 0 })!,
      /do not start with a unit name: ●/,
    );
    assert.match(failedUnitsProblem({ stdout: man, stderr: '', exitCode: 0 })!, /UNIT/);
    assert.equal(failedUnitsProblem({ stdout: '-.mount loaded failed failed Root Mount\n', stderr: '', exitCode: 0 }), undefined);
  });
});

test('settle() on a VM whose systemctl cannot reach the bus: broken at once, not a state to wait out or to fail the claim with', async () => {
  const host = hostAnswering({
    'systemctl is-system-running': { exitCode: 1, stdout: '', stderr: NO_BUS },
    'systemctl --failed --plain --no-legend': { exitCode: 1, stderr: NO_BUS },
  });
  const t0 = Date.now();
  await assert.rejects(settle(host, 10_000), brokenWith(/Failed to connect to bus/));
  assert.ok(Date.now() - t0 < 5_000, 'the wait gave up at once');
});
