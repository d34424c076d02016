import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import type { RunEvidence } from '../../src/evidence/report';
import { Lab, labLocks } from '../../lab/src/lab';
import { PROJECT_ROOT } from '../../src/paths';
import { LAB_ROOT } from '../../lab/src/paths';
import { loadProfile } from '../../src/profile/load';
import { acceptance, startAcceptance, tempDir, testReportsDir, type LiveRun } from '../helpers';

// Interrupted, killed and concurrent runs: whatever stops a run, nothing of it is left running,
// mounted or listening, its evidence is written whole and marked, and the next run cleans up
// after a run that could not.

const LAB_ADDRESSES = ['127.0.10.2', '127.0.10.3', '127.0.10.4', '127.0.10.5'];
const LIVE_SHAPED = join(PROJECT_ROOT, 'test', 'fixtures', 'profiles', 'live-shaped.yaml');
const tmp = tempDir('reliability-');
/** Figures for the README: each interrupt point, how long the stop took, what was left. */
const figures: string[] = [];
after(() => {
  if (figures.length) process.stdout.write(`# interrupt figures\n${figures.map((f) => `#   ${f}`).join('\n')}\n`);
});

function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: 500 });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

const ownMountNamespace = readlinkSync('/proc/self/ns/mnt');
const labOfNamespace = new Map<string, string>();

/**
 * Whether a process lives in a mount namespace of the run's lab: its mounts come from the lab's
 * directory (a lab host's sshd shows no lab path in its command line, and outlives the folder).
 */
function inLabNamespace(pid: string, runId: string): boolean {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return false;
  }
  if (ns === ownMountNamespace) return false;
  if (!labOfNamespace.has(ns)) {
    try {
      labOfNamespace.set(ns, readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
    } catch {
      return false;
    }
  }
  return labOfNamespace.get(ns)!.includes(runId);
}

/** Everything a run could leave on this machine: processes, mounts, listeners, lab directories, the lock. */
async function leftovers(runId: string): Promise<string[]> {
  labOfNamespace.clear();
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmd.includes(runId) || cmd.includes(join(LAB_ROOT, runId)) || inLabNamespace(pid, runId)) left.push(`process ${pid}: ${cmd.slice(0, 120)}`);
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(runId)) left.push(`mount: ${line}`);
  for (const a of LAB_ADDRESSES) for (const p of [22, 80, 443, 3000, 8080]) if (await listening(a, p)) left.push(`listener ${a}:${p}`);
  // Each lab host logs to its own /var/log: nothing of the lab's is written to this machine's.
  for (const f of ['/var/log/units', '/var/log/gitea.log', '/var/log/gateway-443.log', '/var/log/gateway-80.log'])
    if (existsSync(f)) left.push(`this machine's ${f}`);
  const labs = existsSync(LAB_ROOT) ? readdirSync(LAB_ROOT) : [];
  left.push(...labs.map((l) => `.lab/${l}`));
  for (const lock of labLocks()) left.push(`the lab lock ${lock}: ${readFileSync(lock, 'utf8').trim()}`);
  return left;
}

function evidenceOf(runId: string): RunEvidence {
  return JSON.parse(readFileSync(join(testReportsDir(), runId, 'evidence.json'), 'utf8')) as RunEvidence;
}

const runIdOf = async (r: LiveRun) => (await r.waitFor(/^run (\d{8}-\d{6}-[0-9a-f]{4}):/m, 60_000))[1]!;

/** Interrupts a run once `marker` is printed; checks the exit, the evidence and that nothing is left. */
async function interruptAt(stage: string, args: string[], marker: RegExp, sig: 'SIGINT' | 'SIGTERM', during: RegExp): Promise<RunEvidence> {
  const run = startAcceptance(args);
  const runId = await runIdOf(run);
  await run.waitFor(marker, 300_000);
  const sent = Date.now();
  // Ctrl-C signals the process group; a service manager (or kill) signals the process.
  run.signal(sig, { group: sig === 'SIGINT' });
  const { code, at } = await run.exited;
  const stopMs = at - sent;
  assert.equal(code, sig === 'SIGINT' ? 130 : 143, run.output().slice(-2000));
  assert.ok(stopMs < 10_000, `stopped in ${stopMs} ms, not within 10 s`);
  const left = await leftovers(runId);
  figures.push(`${stage} (${sig}): stopped in ${(stopMs / 1000).toFixed(1)} s, ${left.length} left`);
  assert.deepEqual(left, [], `nothing of run ${runId} is left`);
  const e = evidenceOf(runId);
  assert.ok(e.interrupted, 'evidence.json says the run was interrupted');
  assert.equal(e.interrupted!.signal, sig);
  assert.match(e.interrupted!.during, during);
  assert.match(readFileSync(join(testReportsDir(), runId, 'summary.md'), 'utf8'), new RegExp(`\\*\\*INTERRUPTED\\*\\* by ${sig}`));
  assert.equal(readlinkSync(join(testReportsDir(), 'latest')), runId);
  assert.match(run.output(), new RegExp(`run ${runId}: INTERRUPTED by ${sig} during`));
  return e;
}

test('an interrupt at any stage stops the run, leaves nothing, and still writes its evidence marked interrupted', async () => {
  await interruptAt('lab start', ['--tags', '@c1-gitlink'], /lab: starting 4 hosts/, 'SIGINT', /^lab start$/);
  await interruptAt(
    'a fault being applied',
    ['--tags', '@c1-toplevel-identical', '--fault', 'toplevel-drift'],
    /fault: applying toplevel-drift/,
    'SIGTERM',
    /^fault toplevel-drift$/,
  );
  const script = join(tmp, 'slow-fault.sh');
  writeFileSync(script, '#!/bin/sh\necho slow fault\nsleep 120\n', { mode: 0o755 });
  await interruptAt('a fault script', ['--tags', '@c1-gitlink', '--fault-script', script], /fault: running script/, 'SIGINT', /^fault script slow-fault\.sh$/);
  const build = await interruptAt('the C1 build', ['--tags', '@c1-toplevel-identical'], /\[builder\] \$ nixos-rebuild build/, 'SIGTERM', /step "/);
  const running = build.scenarios.find((s) => s.status === 'broken');
  assert.ok(running && /interrupted by SIGTERM/.test(running.message ?? ''), 'the scenario that was running is broken, saying why');
  assert.notEqual(build.totals.passed, build.scenarios.length);
  await interruptAt(
    'the throwaway nixos-rebuild switch',
    ['--tags', '@c4-running'],
    /\] \$ bash -euo pipefail -c[\s\S]*?nixos-rebuild switch/,
    'SIGINT',
    /C4|step "/,
  );
  await interruptAt('an E2E wait', ['--tags', '@e2e-testme'], /e2e: waiting for/, 'SIGTERM', /step "/);
  await interruptAt('the Allure report', ['--tags', '@c1-gitlink'], /allure: generating the HTML report/, 'SIGINT', /^the Allure report$/);
});

/** `npm run janitor` with the lab profile, as a user runs it. */
function runJanitor() {
  return execa(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs'), join(PROJECT_ROOT, 'bin', 'janitor.ts')],
    { cwd: PROJECT_ROOT, reject: false, all: true, env: { FORCE_COLOR: '0', LAB_DIR: '' } },
  );
}

test('a second interrupt exits at once and names what it could not clean; the janitor then cleans it', async () => {
  // A lab process that ignores SIGTERM keeps the first stop busy for a while (until its SIGKILL).
  const script = join(tmp, 'stubborn.sh');
  writeFileSync(script, '#!/bin/sh\nlab-exec cc-ci setsid sh -c \'trap "" TERM; exec sleep 600\' < /dev/null > /dev/null 2>&1 &\nsleep 120\n', { mode: 0o755 });
  const run = startAcceptance(['--tags', '@c1-gitlink', '--fault-script', script]);
  const runId = await runIdOf(run);
  await run.waitFor(/fault: running script/, 300_000);
  await new Promise((r) => setTimeout(r, 500));
  run.signal('SIGINT', { group: false });
  await run.waitFor(/a second SIGINT exits at once/);
  run.signal('SIGINT', { group: false });
  const { code } = await run.exited;
  assert.equal(code, 130);
  assert.match(run.output(), /SIGINT again: exiting now\. Not cleaned:\n {2}- the lab at \.lab\/\d{8}-\d{6}-[0-9a-f]{4}/);
  const janitor = await runJanitor();
  assert.equal(janitor.exitCode, 0, String(janitor.all));
  assert.match(String(janitor.all), new RegExp(`lab: stopping the lab of run ${runId} at .*: its owner \\(pid \\d+\\) is gone`));
  assert.deepEqual(await leftovers(runId), []);
});

/** Every JSON file of a run folder parses, and every line of every .ndjson one: nothing half-written. */
function wholeFiles(dir: string): { records: number } {
  let records = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) assert.doesNotThrow(() => JSON.parse(readFileSync(p, 'utf8')), `${p} parses`);
      else if (e.name.endsWith('.ndjson')) {
        const text = readFileSync(p, 'utf8');
        assert.ok(text === '' || text.endsWith('\n'), `${p} ends with a whole line`);
        for (const line of text.split('\n').filter(Boolean)) {
          assert.doesNotThrow(() => JSON.parse(line), `${p}: each line parses`);
          records++;
        }
      }
    }
  };
  walk(dir);
  return { records };
}

test("after kill -9, the next run stops and removes the dead run's lab, says so, and runs", async () => {
  const run = startAcceptance(['--tags', '@e2e-testme']);
  const runId = await runIdOf(run);
  await run.waitFor(/lab: up in/, 300_000);
  // Killed mid-scenario, while it records commands: what it wrote is whole.
  await run.waitFor(/e2e: waiting for "deployed"/, 60_000);
  run.signal('SIGKILL', { group: false });
  await run.exited;
  assert.ok(existsSync(join(LAB_ROOT, runId)), 'the killed run left its lab');
  const written = wholeFiles(join(testReportsDir(), runId));
  assert.ok(written.records > 0, 'the killed run had recorded something');
  // Its hosts' processes stay (its relays may follow their parent out, so its listeners may not).
  assert.ok(
    (await leftovers(runId)).some((l) => l.startsWith('process')),
    'and its processes',
  );
  const next = await acceptance(['--tags', '@c1-gitlink']);
  assert.equal(next.exitCode, 0, next.output);
  assert.match(next.output, /lab: the lab lock of run \S+ \(pid \d+\) on 127\.0\.10\.2 is stale \(that process is gone\): taking it/);
  assert.match(next.output, new RegExp(`lab: stopping the lab of run ${runId} at .*: its owner \\(pid \\d+\\) is gone, \\d+ of its processes still run`));
  assert.deepEqual(await leftovers(runId), []);
});

test('a second run while a lab runs waits for it, saying whose it is, then runs', async () => {
  const dir = Lab.newDir(`test-lock-${process.pid}`);
  const lab = await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {});
  let stopped = false;
  try {
    assert.equal(labLocks().length, 4, "a lock for each of the lab's 4 addresses");
    // The janitor never touches a lab whose owner still runs.
    const janitor = await runJanitor();
    assert.equal(janitor.exitCode, 0, String(janitor.all));
    assert.doesNotMatch(String(janitor.all), new RegExp(`stopping the lab of run test-lock-${process.pid}`));
    assert.ok(existsSync(dir), 'the live lab is still there');
    assert.equal(labLocks().length, 4, 'and still holds its locks');
    assert.equal((await lab.exec('cc-ci', ['true'])).exitCode, 0, 'and still runs');
    const second = startAcceptance(['--tags', '@c1-gitlink']);
    await second.waitFor(
      new RegExp(
        `lab: waiting for run test-lock-${process.pid} \\(pid ${process.pid}, since [^)]+\\) to stop its lab: it listens on 127\\.0\\.10\\.2, as this lab would \\(127\\.0\\.10\\.2, 127\\.0\\.10\\.3`,
      ),
      60_000,
    );
    await lab.stop();
    stopped = true;
    const { code } = await second.exited;
    assert.equal(code, 0, second.output().slice(-2000));
    assert.doesNotMatch(second.output(), /address is in use|Error:|at .*\.ts:\d+/);
  } finally {
    if (!stopped) await lab.stop();
  }
  assert.deepEqual(labLocks(), [], 'the locks are given back');
});

// The live code path: a lab of this test's own, reached through the live-shaped profile. An
// interrupt there must delete the throwaway the run made and remove its work dir on the build host.
/**
 * A live-shaped run (its lab is the test's, so the lab's own listeners and directory stay):
 * signalled, it stops within 10 s, leaves no process or mount of its own, and its evidence says
 * it was interrupted.
 */
async function stoppedInTime(stage: string, run: LiveRun, runId: string, sig: 'SIGINT' | 'SIGTERM', opts: { keeps?: boolean } = {}): Promise<void> {
  const sent = Date.now();
  run.signal(sig, { group: false });
  const { code, at } = await run.exited;
  const stopMs = at - sent;
  assert.equal(code, sig === 'SIGINT' ? 130 : 143, run.output().slice(-2000));
  assert.ok(stopMs < 10_000, `stopped in ${stopMs} ms, not within 10 s`);
  // A throwaway the run keeps (--destroy never) runs on, with its processes: what it keeps is checked apart.
  const left = opts.keeps ? [] : (await leftovers(runId)).filter((l) => /^(process|mount)/.test(l));
  figures.push(`${stage} (${sig}): stopped in ${(stopMs / 1000).toFixed(1)} s, ${opts.keeps ? 'its throwaway kept, as asked' : `${left.length} left`}`);
  assert.deepEqual(left, [], `nothing of run ${runId} is left`);
  const e = evidenceOf(runId);
  assert.equal(e.interrupted?.signal, sig, 'evidence.json says the run was interrupted');
}

test("interrupted against a live profile: the throwaway it created is deleted and named, the build host's work dir removed", async () => {
  const dir = Lab.newDir(`test-live-${process.pid}`);
  const lab = await Lab.start(dir, loadProfile('lab', { LAB_DIR: dir }).profile, () => {});
  try {
    const build = startAcceptance(['--profile', LIVE_SHAPED, '--tags', '@c1-toplevel-identical'], { LAB_DIR: dir });
    const buildId = await runIdOf(build);
    await build.waitFor(/\[builder\] \$ nixos-rebuild build/, 300_000);
    await stoppedInTime('live-shaped: the C1 build', build, buildId, 'SIGINT');
    const work = await lab.exec('builder', ['ls', '-A', '/root/acceptance'], { check: false });
    assert.ok(!work.stdout.includes(buildId), `no work dir of ${buildId} on the builder: ${work.stdout}`);

    const vm = startAcceptance(['--profile', LIVE_SHAPED, '--tags', '@c4-running', '--allow-mutations'], { LAB_DIR: dir });
    const vmId = await runIdOf(vm);
    const created = await vm.waitFor(/creating the throwaway VM (\S+)/, 300_000);
    await vm.waitFor(/\] \$ bash -euo pipefail -c[\s\S]*?nixos-rebuild switch/, 300_000);
    await stoppedInTime("live-shaped: the throwaway's switch", vm, vmId, 'SIGTERM');
    assert.match(vm.output(), new RegExp(`deleting the throwaway VM ${created[1]}`));
    const list = spawnSync(join(PROJECT_ROOT, 'lab', 'standins', 'incus'), ['list', '--project', 'terraform-ci', '--format', 'csv', '-c', 'n'], {
      env: { ...process.env, LAB_DIR: dir },
      encoding: 'utf8',
    });
    assert.doesNotMatch(list.stdout, new RegExp(created[1]!), 'the throwaway is gone');

    // Under --destroy never the interrupted run keeps its throwaway, and names it.
    const kept = startAcceptance(['--profile', LIVE_SHAPED, '--tags', '@c4-running', '--allow-mutations', '--destroy', 'never'], { LAB_DIR: dir });
    const keptId = await runIdOf(kept);
    const keptVm = (await kept.waitFor(/creating the throwaway VM (\S+)/, 300_000))[1]!;
    await kept.waitFor(/\] \$ bash -euo pipefail -c[\s\S]*?nixos-rebuild switch/, 300_000);
    await stoppedInTime('live-shaped: the switch, --destroy never', kept, keptId, 'SIGINT', { keeps: true });
    assert.match(kept.output(), new RegExp(`kept the throwaway VM ${keptVm} \\(--destroy never\\); it expires \\S+`));
    const still = spawnSync(join(PROJECT_ROOT, 'lab', 'standins', 'incus'), ['list', '--project', 'terraform-ci', '--format', 'csv', '-c', 'n'], {
      env: { ...process.env, LAB_DIR: dir },
      encoding: 'utf8',
    });
    assert.match(still.stdout, new RegExp(keptVm), 'the kept throwaway is still there');
  } finally {
    await lab.stop();
  }
});

test('a secret the live redactor cannot see is caught by the end-of-run scan: the run fails naming the file and the secret, and the file is scrubbed', async () => {
  const r = await acceptance(['--tags', '@c7-architecture', '--fault-script', join(PROJECT_ROOT, 'test', 'fixtures', 'fault-scripts', 'plant-leak.sh')]);
  assert.equal(r.exitCode, 1, r.output);
  assert.equal(r.evidence!.totals.passed, r.evidence!.scenarios.length, 'the claim itself held');
  assert.match(r.output, /^LEAK: commands\/\d{4}-builder\.log: \S+-ssh-key as base64-offset-2/m);
  assert.match(r.output, /leak scan: \d+ secret\(s\) found in the run's files or console: the run fails/);
  const runDir = join(testReportsDir(), r.runId!);
  const scan = JSON.parse(readFileSync(join(runDir, 'leak-scan.json'), 'utf8')) as { hits: { file: string; secret: string }[] };
  assert.ok(scan.hits.some((h) => /^commands\/\d{4}-builder\.log$/.test(h.file)));
  const file = scan.hits.find((h) => h.file.endsWith('-builder.log'))!.file;
  assert.match(readFileSync(join(runDir, file), 'utf8'), /<!-- build cache: [A-Za-z0-9+/]*\[REDACTED:\S+-ssh-key\][A-Za-z0-9+/=]* -->/, 'scrubbed in place');
});

test('hostile text from the forge (a commit message, a file name, doc lines that are shell) is only ever data', async () => {
  const injected = () => readdirSync(PROJECT_ROOT).filter((f) => f.startsWith('.injected-'));
  assert.deepEqual(injected(), []);
  const r = await acceptance(['--tags', '@C1 or @C3 or @C7', '--fault-script', join(PROJECT_ROOT, 'test', 'fixtures', 'fault-scripts', 'plant-injection.sh')]);
  assert.ok(r.evidence, r.output);
  assert.equal(r.evidence.faults[0]?.exitCode, 0, 'the hostile commit was pushed');
  assert.deepEqual(injected(), [], 'no payload ran on any host or here');
  assert.ok(!existsSync('/tmp/.injected-subst'));
});

test("the README's interrupt figures are this file's: as many lab stages and live-shaped points, every one stopped within 10 s with nothing left", (t) => {
  const live = figures.filter((f) => f.startsWith('live-shaped:'));
  const lab = figures.filter((f) => !f.startsWith('live-shaped:'));
  // Only a whole run of this file has every point (a name pattern runs a few).
  if (lab.length < 7 || live.length < 3) return t.skip(`${figures.length} interrupt point(s) ran: not the whole file`);
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.ok(
    readme.includes(`| interrupt points (SIGINT or SIGTERM) | ${lab.length} lab stages + ${live.length} live-shaped`),
    `the README counts ${lab.length} + ${live.length}`,
  );
  for (const f of figures) assert.match(f, /stopped in \d\.\d s, (0 left|its throwaway kept, as asked)$/);
});
