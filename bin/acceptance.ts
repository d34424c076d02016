import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { runCucumber } from '@cucumber/cucumber/api';
import { stringifyEnvInfo } from 'allure-js-commons/sdk/reporter';
import { cucumberConfiguration, gateSelection, plannedScenarios } from '../src/cli/plan';
import { execa, type ResultPromise } from 'execa';
import { parseArgs, USAGE } from '../src/cli/args';
import { doctorTable, preflightReason, runDoctor } from '../src/cli/doctor';
import { Recorder } from '../src/evidence/recorder';
import { HostPool } from '../src/drivers/pool';
import { LabError, UsageError } from '../src/errors';
import { Redactor } from '../src/evidence/redact';
import { writeFileAtomic } from '../src/evidence/atomic';
import { writeEvidence, type AppliedFault, type Interruption, type RunMeta } from '../src/evidence/report';
import { writeManifest } from '../src/evidence/manifest';
import { describeLeak, scanForLeaks } from '../src/evidence/leak-scan';
import { claimMarkdown, commitsSeen } from '../src/gate/claim';
import { coldness, harnessState } from '../src/gate/coldness';
import { gateVerdict } from '../src/gate/verdict';
import { FAULTS, faultNamed } from '../lab/src/faults';
import { Lab } from '../lab/src/lab';
import { PROJECT_ROOT, shownPath } from '../src/paths';
import { loadProfile, referenceProblems } from '../src/profile/load';
import { describeActivity, markInterrupted, runningScenario, setStage } from '../src/run/activity';
import { RunContext, type RunParameters } from '../src/run/context';

const say = (line: string) => process.stderr.write(line + '\n');

/** Everything the CLI prints (its own lines, cucumber's, the recorder's), kept for the leak scan. */
const consoleCapture: string[] = [];
let consoleBytes = 0;
const CONSOLE_CAP = 64 * 1024 * 1024;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : String(chunk);
    if (consoleBytes < CONSOLE_CAP) consoleCapture.push(text);
    consoleBytes += text.length;
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

function newRunId(now: Date): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${t}-${randomBytes(2).toString('hex')}`;
}

function listFaults(): string {
  const width = Math.max(...FAULTS.map((f) => f.name.length));
  return FAULTS.map(
    (f) =>
      `${f.name.padEnd(width)}  ${f.criteria.join(', ').padEnd(6)} ${f.summary}\n${' '.repeat(width + 2)}must turn red: ${[...f.red, ...(f.broken ?? []).map((b) => `${b} (broken)`)].join(' ')}`,
  ).join('\n');
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.listFaults) {
    process.stdout.write(listFaults() + '\n');
    return 0;
  }

  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const labDir = Lab.newDir(runId);
  // A lab run makes its own lab in labDir; a live profile may name a lab already running (LAB_DIR), as the tests' live-shaped profile does.
  const first = loadProfile(args.profile, { LAB_DIR: labDir });
  const profileVars = { LAB_DIR: first.profile.target === 'live' && process.env.LAB_DIR ? process.env.LAB_DIR : labDir };
  const loaded = profileVars.LAB_DIR === labDir ? first : loadProfile(args.profile, profileVars);
  const { profile } = loaded;
  const unknown = args.faults.filter((f) => !faultNamed(f));
  if (unknown.length) throw new UsageError(`--fault: unknown fault ${unknown.join(', ')} (known: ${FAULTS.map((f) => f.name).join(', ')})`);
  if (profile.target !== 'lab' && (args.faults.length || args.faultScripts.length)) {
    throw new UsageError(`--fault and --fault-script change the lab; profile ${profile.name} targets live hosts, which the harness never faults`);
  }

  let gateCriteria: string[] | undefined;
  /** With --gate: every scenario of the gate, by criterion; the verdict needs a result for each. */
  let gateExpected: Record<string, { uri: string; name: string }[]> | undefined;
  let config: Awaited<ReturnType<typeof cucumberConfiguration>>;
  let planned: Awaited<ReturnType<typeof plannedScenarios>>;
  if (args.gate) {
    gateCriteria = profile.gates[args.gate];
    if (!gateCriteria) throw new UsageError(`--gate: profile ${profile.name} has no gate ${args.gate} (gates: ${Object.keys(profile.gates).join(', ')})`);
    // A gate selects its scenarios itself: its selection must be every scenario of its criteria
    // (compared, by file and name, with the default configuration and only the gate's tags), or a
    // partial pass would look whole.
    const selection = await gateSelection(args.gate, gateCriteria, args.cucumber);
    ({ config, planned } = selection);
    gateExpected = selection.expected;
  } else {
    config = await cucumberConfiguration(args.cucumber);
    planned = await plannedScenarios(config);
  }
  if (config.runtime.parallel > 0) throw new UsageError('--parallel: the harness runs scenarios in one process, so that each host has one connection');
  if (planned.length === 0)
    throw new UsageError(
      `no scenario matches the selection (tags: ${config.sources.tagExpression || 'none'}, names: ${config.sources.names.join(', ') || 'none'})`,
    );
  const mutating = planned.filter((p) => p.tags.includes('@mutating'));
  const needsThrowaway = planned.some((p) => p.tags.includes('@C4') || p.tags.includes('@c6-throwaway-size'));
  if (profile.target === 'live' && mutating.length && !args.allowMutations) {
    throw new UsageError(
      `${mutating.length} selected scenario(s) change the world (@mutating: ${mutating.map((m) => m.name).join('; ')}); against ${profile.name} they need --allow-mutations, or deselect them with --tags "not @mutating"`,
    );
  }

  const redactor = new Redactor();
  /** Every credential and reference the selection needs, all reported at once, before any contact. */
  const checkInputs = () => {
    const problems = [
      ...HostPool.credentialProblems(profile, redactor),
      ...referenceProblems(profile, { throwaway: needsThrowaway, e2e: planned.some((p) => p.tags.includes('@e2e')) }),
    ];
    if (problems.length) throw new UsageError(`profile ${profile.name}: what it names cannot be read:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  };
  if (profile.target === 'live') {
    checkInputs();
  }

  const runDir = join(args.reportsDir, runId);
  const shownDir = shownPath(runDir);
  mkdirSync(runDir, { recursive: true });
  // Renamed over the old link, so two runs at once never find it half-made.
  symlinkSync(runId, join(args.reportsDir, `.latest-${runId}`));
  renameSync(join(args.reportsDir, `.latest-${runId}`), join(args.reportsDir, 'latest'));
  say(`run ${runId}: profile ${profile.name} (${profile.target}), ${planned.length} scenario(s); evidence in ${shownDir}/`);

  const dryRun = config.runtime.dryRun;
  const state = await harnessState();
  const harness = { commit: state.commit, dirty: state.dirty || state.untracked > 0 };
  const faults: AppliedFault[] = [];
  /**
   * The run's files and console, searched for every secret the run learned in every form; a hit
   * is scrubbed from the file and fails the run, named by file and secret, never by value. Then
   * the manifest. Returns whether anything leaked or could not be searched.
   */
  const sealRun = (): boolean => {
    const leaks = scanForLeaks(runDir, redactor, [{ name: 'console', text: consoleCapture.join('') }]);
    writeFileAtomic(join(runDir, 'leak-scan.json'), JSON.stringify({ hits: leaks.hits, errors: leaks.errors, coverage: leaks.coverage }, null, 2) + '\n');
    writeManifest(runDir);
    for (const h of leaks.hits) say(`LEAK: ${describeLeak(h)}`);
    for (const e of leaks.errors) say(`leak scan: could not read ${e.file}: ${e.message}`);
    const leaked = leaks.hits.length > 0 || leaks.errors.length > 0;
    if (leaked)
      say(
        `leak scan: ${leaks.hits.length} secret(s) found in the run's files or console${leaks.errors.length ? `, ${leaks.errors.length} file(s) unreadable` : ''}: the run fails (see ${shownDir}/leak-scan.json)`,
      );
    return leaked;
  };
  const finishEvidence = (why?: Interruption) => {
    const meta: RunMeta = {
      runId,
      profile: { name: profile.name, source: loaded.source, path: relative(PROJECT_ROOT, loaded.path) },
      target: profile.target,
      harness,
      argv: argv.map((a) => redactor.redact(a)),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      faults,
      ...(why ? { interrupted: why } : {}),
    };
    const evidence = writeEvidence(runDir, meta, (e) => {
      const cold = coldness(e, state, { liveHost: profile.roles.live });
      const gate = args.gate
        ? gateVerdict(e, args.gate, gateCriteria!, { role: args.role, notCold: cold.cold ? undefined : cold.reasons.join('; '), expected: gateExpected })
        : undefined;
      return { coldness: cold, role: args.role, ...(gate ? { gate } : {}) };
    });
    if (why) sealRun();
    return evidence;
  };
  let lab: Lab | null = null;
  let labStarting = false;
  /** A child the CLI waits on (a fault script, Allure): ended on an interrupt. */
  let child: ResultPromise | undefined;
  let interrupted: Interruption | undefined;
  const CLEANUP_MS = 60_000;
  const exitCodeOf = (signal: NodeJS.Signals) => (signal === 'SIGINT' ? 130 : 143);
  /** What is still to clean, by name, for a second signal to print. */
  const pending = () => [
    ...(RunContext.current?.pendingCleanup() ?? []),
    ...(lab || labStarting ? [`the lab at ${shownPath(labDir)} (its hosts, mounts and relays; npm run janitor stops it)`] : []),
  ];
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      const left = pending();
      say(`\n${signal} again: exiting now.${left.length ? ` Not cleaned:\n${left.map((l) => `  - ${l}`).join('\n')}` : ' Nothing was left to clean.'}`);
      process.exit(exitCodeOf(signal));
    }
    markInterrupted();
    interrupted = { signal, at: new Date().toISOString(), during: describeActivity(), scenarioId: runningScenario()?.id };
    say(`\n${signal} during ${interrupted.during}: stopping (a second ${signal} exits at once)…`);
    void stopInterrupted(interrupted).finally(() => process.exit(exitCodeOf(signal)));
  };
  /** An interrupted run cleans what it made, and still writes its evidence, marked interrupted. */
  const stopInterrupted = async (why: Interruption) => {
    child?.kill('SIGTERM');
    const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    try {
      // The throwaway (deleted unless --destroy never or --keep) and the build host's work dir:
      // deleting a VM mid-switch can take a while; a second signal is the way out of a hang.
      await within(RunContext.current?.interrupt() ?? Promise.resolve(), CLEANUP_MS).catch((e: Error) =>
        say(`could not finish the run's cleanup: ${e.message}`),
      );
      if (lab) await lab.stop();
      else if (labStarting) {
        const left = await Lab.abortStart(labDir);
        if (left.length) say(`lab: could not stop: ${left.join('; ')}`);
      }
    } finally {
      for (const l of RunContext.current?.pendingCleanup() ?? []) say(`not cleaned: ${l}`);
      finishEvidence(why);
      say(`run ${runId}: INTERRUPTED by ${why.signal} during ${why.during}\n  summary:  ${shownDir}/summary.md\n  evidence: ${shownDir}/evidence.json`);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let success = false;
  /** The Allure report's environment widget; the commits the run saw are added once it has seen them. */
  let environmentInfo: Record<string, string> = {};
  try {
    if (profile.target === 'lab' && !dryRun) {
      setStage('lab start');
      labStarting = true;
      lab = await Lab.start(labDir, profile, say);
      labStarting = false;
      checkInputs();
      for (const name of args.faults) {
        const f = faultNamed(name)!;
        say(`fault: applying ${f.name}: ${f.summary}`);
        setStage(`fault ${f.name}`);
        await f.apply(lab);
        faults.push({
          name: f.name,
          kind: 'fault',
          summary: f.summary,
          criteria: f.criteria,
          red: f.red,
          broken: f.broken ?? [],
          appliedAt: new Date().toISOString(),
        });
      }
      for (const [i, script] of args.faultScripts.entries()) {
        say(`fault: running script ${script}`);
        setStage(`fault script ${basename(script)}`);
        child = execa(script, [], { env: { ...process.env, ...lab.scriptEnv }, reject: false, all: true, cwd: lab.dir });
        const r = await child;
        child = undefined;
        const output = join(runDir, 'faults', `${i + 1}-${basename(script)}.log`);
        mkdirSync(join(runDir, 'faults'), { recursive: true });
        writeFileAtomic(output, redactor.redact(String(r.all ?? '')));
        faults.push({
          name: basename(script),
          kind: 'script',
          exitCode: r.exitCode ?? -1,
          output: relative(runDir, output),
          appliedAt: new Date().toISOString(),
        });
        if (r.exitCode !== 0) throw new UsageError(`--fault-script ${script} exited ${r.exitCode ?? r.signal}; see ${shownPath(output)}`);
      }
    }

    // A live run asks the doctor first: when something the selection needs is missing, no scenario runs.
    let preflightFailure: RunParameters['preflightFailure'];
    if (profile.target === 'live' && !dryRun) {
      say('doctor: checking hosts, tools, credentials, tokens and names the selection needs');
      setStage('the doctor');
      const rows = await runDoctor(profile, planned, new Recorder(join(runDir, 'doctor'), `${shownDir}/doctor`, redactor, () => {}));
      writeFileAtomic(join(runDir, 'doctor.md'), `# Doctor\n\n\`\`\`\n${doctorTable(rows)}\n\`\`\`\n`);
      const reason = preflightReason(rows);
      if (reason) {
        say(`${doctorTable(rows)}\n\ndoctor: something the selection needs is missing; every selected scenario is broken with it`);
        preflightFailure = { reason, evidence: `${shownDir}/doctor.md` };
      }
    }

    const parameters: RunParameters = {
      preflightFailure,
      runId,
      runDir,
      shownDir,
      profilePath: loaded.path,
      profileVars,
      destroy: args.destroy,
      keep: args.keep,
    };
    setStage('the scenarios');
    RunContext.sharedRedactor = redactor;
    environmentInfo = {
      run: runId,
      profile: profile.name,
      target: profile.target,
      gate: args.gate ?? 'none',
      role: args.role,
      faults: args.faults.join(' ') || 'none',
      harness: `${state.commit}${harness.dirty ? ' (dirty)' : ''}`,
      'base repo': profile.repos.base.url,
      'secrets repo': profile.repos.secrets.url,
      'harness coldness': `${state.freshClone ? 'fresh clone' : 'not a fresh clone'}, ${state.dirty || state.untracked ? 'changed' : 'clean'}, node_modules ${state.nodeModules.fromLockfile ? 'from the lockfile' : 'not from the lockfile'}`,
    };
    const result = await runCucumber(
      {
        ...config,
        // This process already runs under ts-node.
        support: { ...config.support, requireModules: [] },
        runtime: { ...config.runtime, worldParameters: { ...config.runtime.worldParameters, ...parameters } },
        formats: {
          ...config.formats,
          files: {
            ...config.formats.files,
            [join(runDir, 'messages.ndjson')]: 'message',
            [join(runDir, 'junit.xml')]: 'junit',
            [join(runDir, 'allure-formatter.log')]: 'allure-cucumberjs/reporter',
          },
          options: {
            ...config.formats.options,
            resultsDir: join(runDir, 'allure-results'),
            // Grouped by criterion (C1 … C7, e2e), failed claims apart from a harness that could not look.
            labels: [{ pattern: [/^@(C\d+|e2e)$/], name: 'parentSuite' }] as never,
            categories: [
              { name: 'Claims that do not hold (failed)', matchedStatuses: ['failed'] },
              { name: 'The harness could not look (broken)', matchedStatuses: ['broken'] },
            ],
            environmentInfo,
            junit: { suiteName: `cc-ci acceptance ${runId}` },
          },
        },
      },
      { cwd: PROJECT_ROOT },
    );
    success = result.success;
  } catch (e) {
    // An interrupt makes what was running fail; the interrupt's own path ends the run.
    if (interrupted) await new Promise(() => {});
    throw e;
  } finally {
    if (lab && !interrupted) {
      setStage('the lab stop');
      say('lab: stopping');
      await lab.stop();
    }
  }
  if (interrupted) await new Promise(() => {});

  const evidence = finishEvidence();
  setStage('the Allure report');
  say('allure: generating the HTML report');
  // The commits seen are facts of the run, known only now: the widget gets them beside the URLs.
  const seen = commitsSeen(evidence);
  if (seen.length && existsSync(join(runDir, 'allure-results')))
    writeFileAtomic(
      join(runDir, 'allure-results', 'environment.properties'),
      stringifyEnvInfo({ ...environmentInfo, ...Object.fromEntries(seen.map((c) => [`${c.repo} commit`, c.commit])) }) + '\n',
    );
  // Worded as the verdict line words it.
  const reportName = `cc-ci acceptance: ${profile.name}${args.gate ? ` gate ${args.gate}` : ''} run ${runId}${profile.target === 'lab' ? ' — LAB — not evidence' : ''}`;
  const categories = [
    { name: 'Claims that do not hold (failed)', matchedStatuses: ['failed'] },
    { name: 'The harness could not look (broken)', matchedStatuses: ['broken'] },
  ];
  writeFileAtomic(
    join(runDir, 'allurerc.json'),
    JSON.stringify({ name: reportName, categories, plugins: { awesome: { options: { reportName, groupBy: ['parentSuite', 'feature'] } } } }, null, 2) + '\n',
  );
  child = execa(
    join(PROJECT_ROOT, 'node_modules', '.bin', 'allure'),
    ['generate', join(runDir, 'allure-results'), '-o', join(runDir, 'allure-report'), '--config', join(runDir, 'allurerc.json'), '--name', reportName],
    {
      cwd: runDir,
      reject: false,
      all: true,
    },
  );
  const allure = await child;
  child = undefined;
  if (interrupted) await new Promise(() => {});
  if (allure.exitCode !== 0)
    say(`allure: could not generate the report (exit ${allure.exitCode}): ${String(allure.all).trim().split('\n').slice(-3).join(' | ')}`);
  setStage('the claim and the manifest');
  if (evidence.gate && profile.target === 'live') {
    writeFileAtomic(
      join(runDir, 'claim.md'),
      claimMarkdown(evidence, {
        verdict: evidence.gate,
        coldness: evidence.coldness!,
        role: args.role,
        who: await whoRuns(),
        hosts: Object.entries(profile.hosts).map(([name, h]) => ({
          name,
          reachedAs: h.transport === 'ssh' ? `${h.user}@${h.address}:${h.port} over ssh` : 'this machine',
        })),
        rerun: await rerunCommand(
          args.gate!,
          loaded.source,
          planned.some((p) => p.tags.includes('@mutating')),
        ),
      }),
    );
  }
  const leaked = sealRun();

  const t = evidence.totals;
  const allPassed = evidence.scenarios.length > 0 && t.passed === evidence.scenarios.length;
  say(
    `\nrun ${runId}: ${Object.entries(t)
      .filter(([, n]) => n)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}\n` + `  summary:  ${shownDir}/summary.md\n  evidence: ${shownDir}/evidence.json\n  report:   ${shownDir}/allure-report/index.html`,
  );
  if (evidence.gate) {
    say(
      `\n${evidence.gate.line}${evidence.gate.lab ? '' : `\n  counts until ${evidence.gate.validUntil}${profile.target === 'live' ? `; claim: ${shownDir}/claim.md` : ''}`}`,
    );
    return evidence.gate.pass && !dryRun && !leaked ? 0 : 1;
  }
  if (leaked) return 1;
  if (dryRun) return success ? 0 : 1;
  return allPassed && success ? 0 : 1;
}

/** Who runs the harness, for the claim file: CC_CI_WHO, else git's user. */
async function whoRuns(): Promise<string> {
  if (process.env.CC_CI_WHO) return process.env.CC_CI_WHO;
  const get = async (k: string) => String((await execa('git', ['-C', PROJECT_ROOT, 'config', k], { reject: false })).stdout).trim();
  const [name, email] = await Promise.all([get('user.name'), get('user.email')]);
  return [name, email && `<${email}>`].filter(Boolean).join(' ') || 'unknown (set CC_CI_WHO or git config user.name)';
}

/** The command that reruns a gate cold: a fresh clone of this harness at this commit, its lockfile, the Adversary's role. */
async function rerunCommand(gate: string, profileSource: string, mutating: boolean): Promise<string> {
  const origin =
    String((await execa('git', ['-C', PROJECT_ROOT, 'remote', 'get-url', 'origin'], { reject: false })).stdout).trim() || '<this harness repo URL>';
  const commit = String((await execa('git', ['-C', PROJECT_ROOT, 'rev-parse', 'HEAD'], { reject: false })).stdout).trim();
  return [
    `git clone ${origin} cc-ci-acceptance && cd cc-ci-acceptance`,
    `git checkout ${commit}`,
    `npm ci`,
    `npm run acceptance -- --profile ${profileSource} --gate ${gate} --role adversary${mutating ? ' --allow-mutations' : ''}`,
  ].join('\n');
}

// Node exits 0 when nothing is left to wait on, even with the run unfinished (a promise that no
// event will settle): that must never read as a pass.
process.on('beforeExit', () => {
  say('error: the run stopped before it finished, waiting on something that can no longer happen (a bug in the harness); nothing it did counts');
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      say(`error: ${e.message}`);
      process.exit(2);
    }
    if (e instanceof LabError) {
      say(`error: ${e.message}`);
      process.exit(1);
    }
    say(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
