import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { fingerprintOf } from '../../src/drivers/known-hosts';
import { HostPool } from '../../src/drivers/pool';
import { HostBrokenError } from '../../src/errors';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { KILL_SESSION } from '../../lab/src/faults';
import { Lab } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import type { Profile } from '../../src/profile/schema';
import { startAcceptance, statusByTag, tempDir, testReportsDir } from '../helpers';

// Hostile hosts (see README, "Faults"): a command that hangs, 200 MB of output, output that is not
// text, a connection dropped mid-command, a host key that changes between two connections. Each
// is broken, says what happened and on which host, never crashes the run nor holds it past the
// profile's timeouts. The fault matrix (acceptance.test.ts) runs the five lab faults; this file
// checks the transport itself against a lab, and the harness's memory and timing in whole runs.

const tmp = tempDir('hostile-hosts-');
/** Figures for the README: peak memory, how long a hang held a scenario. */
const figures: string[] = [];
after(() => {
  if (figures.length) process.stdout.write(`# hostile-host figures\n${figures.map((f) => `#   ${f}`).join('\n')}\n`);
});

async function brokenMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HostBrokenError, `expected HostBrokenError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected the command to be broken');
}

function connectionsOf(runDir: string, host: string): { result: string; connection?: number; reason?: string; hostKeyFingerprint?: string }[] {
  return readFileSync(join(runDir, 'evidence', 'connections.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((c) => c.host === host);
}

describe('the ssh transport against hostile lab hosts', () => {
  let lab: Lab;
  let profile: Profile;
  const dir = Lab.newDir(`test-hostile-${process.pid}`);

  before(async () => {
    profile = loadProfile('lab', { LAB_DIR: dir }).profile;
    lab = await Lab.start(dir, profile, () => {});
  });
  after(async () => {
    await lab?.stop();
  });

  function pool(): { pool: HostPool; runDir: string } {
    const runDir = mkdtempSync(join(tmp, 'run-'));
    return { pool: new HostPool(structuredClone(profile), new Recorder(runDir, runDir, new Redactor(), () => {})), runDir };
  }

  test('a command that hangs is broken at its timeout, and the connection carries the next command', async () => {
    const { pool: hosts } = pool();
    const cc = hosts.get('cc-ci');
    const t0 = performance.now();
    const msg = await brokenMessage(cc.run(['sh', '-c', 'echo started; exec sleep 3600'], { timeoutMs: 1500 }));
    const took = performance.now() - t0;
    assert.ok(took >= 1500 && took < 4000, `broken after ${Math.round(took)} ms`);
    assert.match(
      msg,
      /^could not run `sh -c echo started; exec sleep 3600` on cc-ci\n {2}expected: root@127\.0\.10\.3:22 over ssh to run the command\n {2}seen: +timed out after 1\.5s \(8 bytes of stdout and 0 of stderr before that\)\n {2}host: +cc-ci\n/,
    );
    assert.match(readFileSync(/evidence: (\S+)/.exec(msg)![1]!, 'utf8'), /--- stdout\nstarted\n/);
    assert.equal((await cc.run(['hostname'])).stdout, 'cc-ci\n');
    assert.deepEqual(hosts.sshConnectionCounts(), { 'cc-ci': 1 });
    await hosts.closeAll();
  });

  test('a connection dropped mid-command: broken, naming the host; one reconnect; after a second drop, no more', async () => {
    const { pool: hosts, runDir } = pool();
    const cc = hosts.get('cc-ci');
    const drop = ['bash', '-c', `${KILL_SESSION}\necho going; kill_session`];
    assert.equal((await cc.run(['hostname'])).stdout, 'cc-ci\n');
    const first = await brokenMessage(cc.run(drop));
    assert.match(
      first,
      /\n {2}seen: +the connection to cc-ci \(root@127\.0\.10\.3:22 over ssh, connection 1 of this run\) was lost [\d.]+s into the command, before it exited \(\d+ bytes of stdout and 0 of stderr before that\): its outcome is unknown, and it is not run again\n {2}host: +cc-ci\n/,
    );
    assert.match(first, /evidence: \S+\/commands\/0002-cc-ci\.log, \S+\/evidence\/connections\.ndjson$/);
    // The next command reconnects, once.
    assert.equal((await cc.run(['hostname'])).stdout, 'cc-ci\n');
    assert.deepEqual(hosts.sshConnectionCounts(), { 'cc-ci': 2 });
    assert.match(await brokenMessage(cc.run(drop)), /connection 2 of this run\) was lost/);
    const t0 = performance.now();
    const last = await brokenMessage(cc.run(['hostname']));
    assert.ok(performance.now() - t0 < 1000, 'refused at once, without trying to connect');
    assert.match(
      last,
      /seen: +not reconnecting to cc-ci \(root@127\.0\.10\.3:22 over ssh\): connection 1 was lost [\d.]+s after it opened \([^)]+\); then connection 2 was lost [\d.]+s after it opened \([^)]+\)\. The harness opens at most 2 connections to a host in a run \(one reconnect\)/,
    );
    assert.deepEqual(hosts.sshConnectionCounts(), { 'cc-ci': 2 });
    assert.deepEqual(
      connectionsOf(runDir, 'cc-ci').map((c) => [c.result, c.connection ?? 1]),
      [
        ['connected', 1],
        ['lost', 1],
        ['connected', 2],
        ['lost', 2],
      ],
    );
    await hosts.closeAll();
  });

  test('an idle connection that drops is reopened for the next command, with no error', async () => {
    const { pool: hosts } = pool();
    const forge = hosts.get('forge');
    // The session is killed a moment after this command has answered.
    await forge.run(['bash', '-c', `${KILL_SESSION}\npids=$(session_pids)\n(sleep 0.5; kill -9 $pids) > /dev/null 2>&1 < /dev/null &`]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await forge.run(['hostname'])).stdout, 'forge\n');
    assert.deepEqual(hosts.sshConnectionCounts(), { forge: 2 });
    await hosts.closeAll();
  });

  test('200 MB over ssh: kept bounded in memory, every byte counted and hashed; a check that parses it is broken', async () => {
    const { pool: hosts } = pool();
    const forge = hosts.get('forge');
    const flood = 'yes "a line of a runaway tool" | head -c 200000000';
    const peak = process.resourceUsage().maxRSS * 1024;
    const r = await forge.run(['sh', '-c', flood], { partial: true });
    const grew = process.resourceUsage().maxRSS * 1024 - peak;
    figures.push(`200 MB over ssh in the test process: peak RSS grew ${Math.round(grew / 2 ** 20)} MiB`);
    assert.ok(grew < 200 * 2 ** 20, `peak RSS grew ${Math.round(grew / 2 ** 20)} MiB`);
    assert.equal(r.truncated, true);
    assert.equal(r.streams!.stdout.bytes, 200_000_000);
    const local = await execa('sh', ['-c', `${flood} | sha256sum`]);
    assert.equal(r.streams!.stdout.sha256, String(local.stdout).split(' ')[0]);
    assert.ok(r.stdout.length < 9 * 2 ** 20);
    const msg = await brokenMessage(forge.run(['sh', '-c', flood]));
    assert.match(
      msg,
      /is too long to read whole\n[\s\S]*seen: +200000000 bytes of stdout \(exit 0\); the harness kept the first \d+ and the last \d+ bytes, and dropped the \d+ in between; it ends: a line of a runaway tool \| a line of a runaway tool \| a line of a runaway tool\n/,
    );
    await hosts.closeAll();
  });

  test('output that is not text over ssh: a check that reads text is broken, showing the bytes escaped', async () => {
    const { pool: hosts } = pool();
    const msg = await brokenMessage(hosts.get('forge').run(['bash', '-c', "printf 'ok\\x00\\xff\\xfe\\n'"], { text: true }));
    assert.match(msg, /seen: +exit 0, and 2 bytes that are not UTF-8 and 1 NUL byte in 6 bytes, the first at byte 2: ok\\x00\\xff\\xfe\\n/);
    await hosts.closeAll();
  });

  test('a host key that changes between two connections of a run is refused, with both fingerprints, once', async () => {
    const { pool: hosts, runDir } = pool();
    const gw = hosts.get('gateway');
    const keyFile = join(dir, 'hosts', 'gateway', 'etc-ssh', 'ssh_host_ed25519_key.pub');
    const before = fingerprintOf(Buffer.from(readFileSync(keyFile, 'utf8').split(' ')[1]!, 'base64'));
    // The host gets a new key, then the session goes (idle): the next command must reconnect.
    await gw.run([
      'bash',
      '-c',
      [
        KILL_SESSION,
        'rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub',
        "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
        'pids=$(session_pids)',
        '(sleep 0.5; kill -9 $pids) > /dev/null 2>&1 < /dev/null &',
      ].join('\n'),
    ]);
    const now = fingerprintOf(Buffer.from(readFileSync(keyFile, 'utf8').split(' ')[1]!, 'base64'));
    assert.notEqual(now, before);
    await new Promise((r) => setTimeout(r, 1500));
    const msg = await brokenMessage(gw.run(['hostname']));
    const q = (s: string) => s.replace(/[+/]/g, '\\$&');
    assert.match(
      msg,
      new RegExp(
        `seen: +cannot connect to root@127\\.0\\.10\\.5:22 over ssh: HOST KEY CHANGED during this run for 127\\.0\\.10\\.5: the run's first connection \\(\\S+\\) was verified with ${q(before)}; the reconnect is offered ssh-ed25519 ${q(now)} \\(HOST KEY CHANGED for 127\\.0\\.10\\.5 \\(key ssh-ed25519 ${q(now)}\\): \\S+known_hosts expects line \\d+: ssh-ed25519 ${q(before)}\\.`,
      ),
    );
    assert.match(msg, /host: +gateway/);
    // Asked again, the same refusal, without another attempt.
    assert.match(await brokenMessage(gw.run(['hostname'])), /HOST KEY CHANGED during this run/);
    assert.deepEqual(
      connectionsOf(runDir, 'gateway').map((c) => c.result),
      ['connected', 'lost', 'refused'],
    );
    const refused = connectionsOf(runDir, 'gateway').at(-1)!;
    assert.equal(refused.hostKeyFingerprint, now);
    await hosts.closeAll();
  });
});

/** Runs the acceptance CLI and samples its peak resident memory (VmHWM) until it exits. */
async function measuredRun(args: string[]): Promise<{ code: number | null; output: string; peakKiB: number; runId: string }> {
  const run = startAcceptance(args);
  let peakKiB = 0;
  const sample = () => {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${run.pid}/status`, 'utf8'));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch {
      /* gone */
    }
  };
  const timer = setInterval(sample, 100);
  const { code } = await run.exited;
  clearInterval(timer);
  const runId = /^run (\d{8}-\d{6}-[0-9a-f]{4}):/m.exec(run.output())?.[1];
  assert.ok(runId, run.output());
  return { code, output: run.output(), peakKiB, runId };
}

function evidenceOf(runId: string) {
  return JSON.parse(readFileSync(join(testReportsDir(), runId, 'evidence.json'), 'utf8')) as import('../../src/evidence/report').RunEvidence;
}

test('200 MB from a command in a run: the harness keeps its memory bounded (peak under 600 MB), and the scenarios are broken', async () => {
  const healthy = await measuredRun(['--tags', '@C5']);
  assert.equal(healthy.code, 0, healthy.output);
  const flood = await measuredRun(['--fault', 'host-output-flood', '--tags', '@C5']);
  assert.equal(flood.code, 1, flood.output);
  const e = evidenceOf(flood.runId);
  assert.deepEqual(
    [...statusByTag(e)],
    [
      ['@c5-d8-says', 'broken'],
      ['@c5-d8-run', 'broken'],
    ],
  );
  figures.push(
    `peak RSS (VmHWM) of the harness: ${Math.round(healthy.peakKiB / 1024)} MiB for a healthy @C5 run, ${Math.round(flood.peakKiB / 1024)} MiB under host-output-flood (200 MB of output)`,
  );
  assert.ok(flood.peakKiB > 0 && flood.peakKiB < 600 * 1000, `peak ${flood.peakKiB} kB`);
  // The evidence holds what was kept, not 200 MB.
  const runDir = join(testReportsDir(), flood.runId);
  const commands = readFileSync(join(runDir, 'evidence', 'commands.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const big = commands.find((c) => c.stdoutBytes === 200_000_035)!;
  assert.ok(big.droppedBytes.stdout > 190_000_000);
  const total = readdirSync(join(runDir, 'commands')).reduce((n, f) => n + readFileSync(join(runDir, 'commands', f)).length, 0);
  assert.ok(total < 20 * 2 ** 20, `${total} bytes of command logs`);
});

test("a command that hangs ends at the profile's command timeout; the run goes on with the other scenarios", async () => {
  // The lab profile with a shorter command timeout: the hang must end at that one.
  const file = join(tmp, 'lab-short-command-timeout.yaml');
  const text = readFileSync(join(PROJECT_ROOT, 'profiles', 'lab.yaml'), 'utf8');
  assert.match(text, /^ {2}command: 20s\b/m);
  writeFileSync(file, text.replace(/^ {2}command: 20s\b/m, '  command: 12s'));
  const r = await measuredRun(['--profile', file, '--fault', 'host-command-hangs', '--tags', '@C5']);
  assert.equal(r.code, 1, r.output);
  const e = evidenceOf(r.runId);
  const says = e.scenarios.find((s) => s.tags.includes('@c5-d8-says'))!;
  const run = e.scenarios.find((s) => s.tags.includes('@c5-d8-run'))!;
  assert.deepEqual([says.status, run.status], ['broken', 'broken']);
  assert.match(says.message!, /seen: +timed out after 12s \(no output before that\)\n {2}host: +builder/);
  assert.ok(says.durationMs >= 12_000 && says.durationMs < 20_000, `the hung scenario took ${says.durationMs} ms`);
  assert.ok(run.durationMs < 5_000, `the next scenario took ${run.durationMs} ms`);
  figures.push(
    `host-command-hangs with timeouts.command 12s: the hung scenario took ${(says.durationMs / 1000).toFixed(1)}s, the next ${(run.durationMs / 1000).toFixed(1)}s`,
  );
});
