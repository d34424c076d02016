import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunEvidence, ScenarioEvidence } from '../../src/evidence/report';
import { BY_NATURE, colourWanted, compareRuns, comparisonJson, comparisonText, VOLATILE_IN } from '../../src/gate/compare';
import { gateVerdict } from '../../src/gate/verdict';

// compare: a claim and its rerun. What differs by nature (times, durations, run ids, the
// throwaway's name, the e2e app's id, build numbers) is set aside; every other difference counts.

type Facts = ScenarioEvidence['facts'];

/** A healthy live run of every criterion, the n-th: its own id, times, throwaway, app id and build number. */
function liveRun(n: number, edit: (facts: Record<string, Facts>) => void = () => {}): RunEvidence {
  const startedAt = new Date(Date.parse('2026-12-07T10:00:00.000Z') + n * 3_600_000).toISOString();
  const runId = `20261207-1${n}0000-ab${n}${n}`;
  const vm = `cc-ci-tmp-${runId}`;
  const app = `cust-${String(n).repeat(6)}`;
  const build = 40 + n;
  const page = `https://drone.ci.example/recipe-maintainers/cc-ci/${build}`;
  const head = 'c'.repeat(40);
  const at = (s: number) => new Date(Date.parse(startedAt) + s * 1000).toISOString();
  const facts: Record<string, Facts> = {
    C1: {
      'live.toplevel': { value: '/nix/store/abc-nixos-system-cc-ci' },
      'build.toplevel': { value: '/nix/store/abc-nixos-system-cc-ci' },
      'build.derivationsBuilt': { value: n === 1 ? 12 : 0, host: 'builder' },
      'build.flakeRef': { value: `/root/cc-ci-acceptance/${runId}/clone#nixosConfigurations.cc-ci.config.system.build.toplevel` },
      'c1.comparison': { value: { method: 'nix-hash', independentBuild: true, note: 'built on builder' } },
    },
    C2: {
      'cert.validity': { value: { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-01-30T00:00:00Z', daysLeft: 54 - (n > 1 ? 1 : 0), minDays: 14 } },
      'cert.git': { value: { sha256: 'd'.repeat(64), fingerprint: 'AA:BB' } },
    },
    C3: {
      scan: {
        value: { of: 'the store', memory: 'private-tmpfs', coverage: [{ kind: 'store', dir: '/nix/store', files: 1000 + n, bytes: 5e9 + n }], hits: [] },
      },
      'wait.scan': { value: { waitedMs: 1000 * n, polls: n } },
    },
    C4: {
      'throwaway.created': { value: { name: vm, createdAt: at(5) } },
      'c4.beforeProvisioning': { value: { scanned: ['/root', '/etc'], found: [], imageBaseline: ['/etc/ssh/sshd_config'] } },
      'c4.incusProvisioning': {
        value: {
          profiles: ['default'],
          found: [],
          devices: { root: { path: '/', pool: 'default', type: 'disk' } },
          configKeys: ['limits.cpu', 'limits.memory', 'user.cc-ci.run', ...(n === 1 ? ['volatile.uuid'] : ['volatile.uuid', 'volatile.last_state.ready'])],
        },
      },
      'c4.provisioningLedger': {
        value: [
          { what: 'recovery key', kind: 'recovery-key', path: '/var/lib/sops-nix/key.txt', mode: '0600', bytes: 189 },
          { what: "the bot's deploy key", kind: 'clone-credential', path: '/root/.ssh/id_ed25519', mode: '0600', bytes: 411 },
        ],
      },
      'c4.appeared': { value: { appeared: ['/root/.ssh/id_ed25519', '/var/lib/sops-nix/key.txt'], unlisted: [], absent: [] } },
      'c4.install': { value: { steps: [{ block: 'nixos-rebuild switch --flake .#cc-ci', exitCode: 0, seconds: 300 + n }], switches: 1 } },
      'c4.generations': {
        value: {
          before: [{ name: 'system-1-link', target: `/nix/store/image-${n}-nixos-system` }],
          after: [
            { name: 'system-1-link', target: `/nix/store/image-${n}-nixos-system` },
            { name: 'system-2-link', target: '/nix/store/abc-nixos-system-cc-ci' },
          ],
          added: [{ name: 'system-2-link', target: '/nix/store/abc-nixos-system-cc-ci' }],
          current: '/nix/store/abc-nixos-system-cc-ci',
        },
      },
      'c4.settle': {
        value: {
          state: 'running',
          failedUnits: [],
          waitedSeconds: 40 + n,
          deadlineSeconds: 1200,
          stableSeconds: 30,
          polls: 9 + n,
          history: [`+${n}s starting`],
        },
      },
      'c4.swarm': {
        value: {
          stacks: ['drone', 'traefik'],
          services: [{ name: 'drone_app', mode: 'replicated', replicas: { running: 1, desired: 1 }, text: '1/1' }],
          history: [`+0.${n}s 2 stacks`, `+${n}.0s converged`],
          stableSeconds: 30,
        },
      },
      'wait.stacks': { value: { waitedMs: 2000 + n, polls: n } },
      [`${vm}.secrets`]: { value: { path: '/run/secrets', realPath: '/run/secrets.d/1', filesystem: 'ramfs', generations: 1, files: {} } },
      'c4.toplevel': { value: { vm: '/nix/store/abc-nixos-system-cc-ci', live: '/nix/store/abc-nixos-system-cc-ci' } },
    },
    C6: {
      'c6.throwaway': { value: { name: vm, limitsMemory: '4GiB', bytes: 4294967296, runningBytes: 4100000000 + n, expected: '4GiB' } },
      'c6.instances': {
        value: [
          { name: 'cc-nix-test', labelled: false, keptBy: 'the live instance', keepLabel: null },
          { name: vm, labelled: true, run: runId, keptBy: null, keepLabel: null },
        ],
      },
    },
    e2e: {
      'e2e.comment': {
        value: {
          as: 'bot',
          body: '!testme',
          id: 900 + n,
          url: `https://git.example/pulls/1#issuecomment-${900 + n}`,
          at: at(60),
          head,
          lastBuildBefore: build - 1,
        },
      },
      'e2e.build': {
        value: {
          number: build,
          page,
          link: `https://git.example/commit/${head}`,
          params: { PR: '1', REF: head, RECIPE: 'custom-html', QUICK: 'false' },
          event: 'custom',
        },
      },
      'e2e.pending': { value: { state: 'pending', target_url: page, at: at(70) } },
      'e2e.url': { value: `https://${app}.ci.example` },
      'e2e.publicAnswer': {
        value: {
          url: `https://${app}.ci.example`,
          address: 'ci.example',
          resolved: '203.0.113.7',
          port: 443,
          status: 200,
          bodySha256: 'e'.repeat(64),
          bodyBytes: 512,
          fingerprint256: 'AA:BB',
        },
      },
      'e2e.deployedHead': {
        value: {
          head,
          compose: 'compose.yml',
          images: { app: 'nginx:1.27' },
          running: { app: 'nginx:1.27' },
          servicesRead: n === 1 ? 'with the answer' : 'before the answer',
        },
      },
      'e2e.finished': { value: { number: build, status: 'success', seconds: 200 + n } },
      'e2e.afterwards': { value: { url: `https://${app}.ci.example`, answer: n === 1 ? 404 : 'connect ECONNREFUSED', leftovers: [] } },
      'e2e.reported': {
        value: {
          status: 'success',
          target_url: page,
          comment: `https://git.example/pulls/1#issuecomment-${950 + n}`,
          commentBody: `✅ \`!testme\` passed: ${page}`,
        },
      },
      'e2e.bridgeAlive': { value: { build, link: `https://git.example/commit/${head}` } },
      'e2e.quiet': { value: { as: 'outsider', body: '!testme', watchedSeconds: 120 + n, windowSeconds: 120, build: null } },
      'e2e.outsider': { value: { login: 'outsider', org: 'recipe-maintainers', status: 404, member: false } },
    },
  };
  edit(facts);
  const scenarios = Object.entries(facts).map(
    ([criterion, f]) =>
      ({
        id: criterion,
        name: `${criterion} holds`,
        uri: `features/${criterion}.feature`,
        feature: criterion,
        tags: [`@${criterion}`],
        criteria: [criterion],
        status: 'passed',
        durationMs: 1000 * n,
        facts: f,
        commands: [],
      }) as ScenarioEvidence,
  );
  const e: RunEvidence = {
    runId,
    profile: { name: 'cc-ci', source: 'cc-ci', path: 'profiles/cc-ci.yaml' },
    target: 'live',
    harness: { commit: 'a'.repeat(40), dirty: false },
    argv: ['--gate', 'ALL'],
    startedAt,
    finishedAt: at(3600),
    faults: [],
    totals: { passed: scenarios.length, failed: 0, broken: 0, skipped: 0, undefined: 0, pending: 0 },
    scenarios,
    runFacts: [{ key: 'run.sshConnections', value: { 'cc-ci': n + 1 }, at: at(3599) }],
    connections: [],
    files: {},
    role: n === 1 ? 'builder' : 'adversary',
    coldness: { cold: true, reasons: [], line: 'cold', harness: {} as never, nodeModulesInThisRun: true },
  };
  e.gate = gateVerdict(e, 'ALL', Object.keys(facts));
  return e;
}

test('two healthy live runs of the same system back each other: only what differs by nature differs', () => {
  const [a, b] = [liveRun(1), liveRun(2)];
  const c = compareRuns(a, b);
  assert.deepEqual(c.problems, []);
  assert.equal(c.ok, true);
  const stable = new Map(c.stable.map((r) => [r.key, r]));
  // Facts that mix what is stable with what is not are counted, not dropped.
  for (const key of [
    'c4.provisioningLedger',
    'c4.swarm',
    'c4.appeared',
    'c4.generations',
    'c4.settle',
    'c4.install',
    'c4.incusProvisioning',
    'c4.beforeProvisioning',
    'c6.throwaway',
    'c6.instances',
    'e2e.publicAnswer',
    'e2e.url',
    'e2e.build',
    'e2e.comment',
    'e2e.pending',
    'e2e.reported',
    'e2e.finished',
    'e2e.afterwards',
    'e2e.deployedHead',
    'e2e.bridgeAlive',
    'e2e.quiet',
    'e2e.outsider',
    'cert.validity',
    'scan',
    'build.flakeRef',
    // Named after the throwaway: compared under its stand-in.
    '<throwaway>.secrets',
  ])
    assert.equal(stable.get(key)?.state, 'equal', key);
  assert.deepEqual(c.byNature.map((r) => r.key).sort(), ['build.derivationsBuilt', 'run.sshConnections', 'throwaway.created', 'wait.scan', 'wait.stacks']);
  assert.match(stable.get('cert.validity')!.setAside!, /^daysLeft: /);
  assert.deepEqual(
    c.criteria.map((r) => [r.criterion, r.a, r.b]),
    ['C1', 'C2', 'C3', 'C4', 'C6', 'e2e'].map((x) => [x, '1 passed', '1 passed']),
  );
});

test('every by-nature rule and every set-aside field is reasoned', () => {
  for (const r of BY_NATURE) assert.ok(r.why.length > 10, String(r.key));
  for (const r of VOLATILE_IN) assert.ok(r.why.length > 5 && r.fields.length, String(r.key));
});

test('a stable field of a mixed fact that changed is a difference: exit 1', () => {
  const changes: [string, (f: Record<string, Facts>) => void][] = [
    [
      'c4.provisioningLedger',
      (f) => (f.C4!['c4.provisioningLedger']!.value as unknown[]).push({ what: 'extra', kind: 'clone-credential', path: '/root/x', mode: '0600', bytes: 1 }),
    ],
    ['c4.swarm', (f) => ((f.C4!['c4.swarm']!.value as { stacks: string[] }).stacks = ['drone'])],
    [
      'c4.appeared',
      (f) => ((f.C4!['c4.appeared']!.value as { appeared: string[] }).appeared = ['/root/.ssh/id_ed25519', '/var/lib/sops-nix/key.txt', '/etc/extra']),
    ],
    ['c4.generations', (f) => ((f.C4!['c4.generations']!.value as { current: string }).current = '/nix/store/other')],
    ['e2e.publicAnswer', (f) => ((f.e2e!['e2e.publicAnswer']!.value as { fingerprint256: string }).fingerprint256 = 'CC:DD')],
    ['e2e.url', (f) => (f.e2e!['e2e.url']!.value = 'https://cust-222222.elsewhere.example')],
    ['e2e.build', (f) => ((f.e2e!['e2e.build']!.value as { params: Record<string, string> }).params.REF = 'f'.repeat(40))],
    ['e2e.reported', (f) => ((f.e2e!['e2e.reported']!.value as { status: string }).status = 'failure')],
    ['cert.validity', (f) => ((f.C2!['cert.validity']!.value as { notAfter: string }).notAfter = '2027-02-28T00:00:00Z')],
    ['c6.throwaway', (f) => ((f.C6!['c6.throwaway']!.value as { limitsMemory: string }).limitsMemory = '8GiB')],
  ];
  for (const [key, edit] of changes) {
    const c = compareRuns(liveRun(1), liveRun(2, edit));
    assert.equal(c.ok, false, key);
    assert.deepEqual(
      c.stable.filter((r) => r.state !== 'equal').map((r) => r.key),
      [key],
      key,
    );
    assert.match(c.problems.join('\n'), new RegExp(`1 stable fact\\(s\\) differ: ${key.replace(/\./g, '\\.')}$`));
  }
});

test('a lab run does not back anything', () => {
  const lab = { ...liveRun(2), target: 'lab' as const };
  const c = compareRuns(liveRun(1), lab);
  assert.equal(c.ok, false);
  assert.ok(c.problems.includes(`run B (${lab.runId}) is a lab run, not evidence`), c.problems.join('\n'));
});

test('a run that failed a criterion does not back anything', () => {
  const failed = liveRun(2);
  failed.scenarios.find((s) => s.criteria.includes('C2'))!.status = 'failed';
  const c = compareRuns(liveRun(1), failed);
  assert.equal(c.ok, false);
  assert.ok(c.problems.includes(`run B (${failed.runId}) did not pass C2`), c.problems.join('\n'));
  assert.deepEqual(
    c.criteria.find((r) => r.criterion === 'C2'),
    { criterion: 'C2', a: '1 passed', b: '1 failed' },
  );
});

test('a gate run whose verdict failed (it left out scenarios of its gate) does not back anything', () => {
  const part = liveRun(2);
  part.gate = { ...part.gate!, pass: false, line: 'GATE ALL: FAIL (C1: 2 of 3 scenarios not run)' };
  const c = compareRuns(liveRun(1), part);
  assert.equal(c.ok, false);
  assert.ok(c.problems.includes(`run B (${part.runId}) did not pass its gate: GATE ALL: FAIL (C1: 2 of 3 scenarios not run)`), c.problems.join('\n'));
});

test('an Adversary run that was not cold does not back anything', () => {
  const warm = liveRun(2);
  warm.coldness = { ...warm.coldness!, cold: false, reasons: ['the harness has uncommitted changes'] };
  const c = compareRuns(liveRun(1), warm);
  assert.equal(c.ok, false);
  assert.ok(c.problems.includes(`run B (${warm.runId}) is an Adversary run that was not cold: the harness has uncommitted changes`), c.problems.join('\n'));
  // A Builder's run that is not cold is no finding: coldness is the Adversary's.
  const builder = liveRun(1);
  builder.coldness = { ...builder.coldness!, cold: false, reasons: ['x'] };
  assert.equal(compareRuns(builder, liveRun(2)).ok, true);
});

test('runs more than 24 h apart do not back each other; 24 h exactly do', () => {
  const late = liveRun(2);
  late.startedAt = new Date(Date.parse(liveRun(1).startedAt) + 25 * 3_600_000).toISOString();
  const c = compareRuns(liveRun(1), late);
  assert.equal(c.ok, false);
  assert.ok(c.problems.includes('the runs started 25 h apart, more than 24 h'), c.problems.join('\n'));
  const edge = liveRun(2);
  edge.startedAt = new Date(Date.parse(liveRun(1).startedAt) + 24 * 3_600_000).toISOString();
  assert.equal(compareRuns(liveRun(1), edge).ok, true);
});

test('the text: the differences first, then criteria and facts, the by-nature facts apart; colour only when asked', () => {
  const a = liveRun(1);
  const b = liveRun(2, (f) => ((f.C4!['c4.swarm']!.value as { stacks: string[] }).stacks = ['drone']));
  const text = comparisonText(compareRuns(a, b), a, b, false);
  assert.doesNotMatch(text, /\x1b\[/);
  const at = (s: string) => {
    const i = text.indexOf(s);
    assert.ok(i >= 0, s);
    return i;
  };
  assert.ok(at('the runs do not back each other:') < at('\ndifferences:\n'));
  assert.ok(at('\ndifferences:\n') < at('\ncriteria:\n'));
  assert.ok(at('\ncriteria:\n') < at('\nfacts:\n'));
  assert.ok(at('\nfacts:\n') < at('\ndifferent by nature (not counted):\n'));
  assert.match(text, /^differences:\n {2}c4\.swarm \(different\)\n {4}A: \{"stacks":\["drone","traefik"\][^\n]*\n {4}B: \{"stacks":\["drone"\][^\n]*\n\n/m);
  assert.match(text, /^ {2}cert\.validity: equal \{[^\n]*\} \(set aside: daysLeft\)$/m);
  const byNature = text.slice(at('\ndifferent by nature (not counted):\n'));
  const counted = text.slice(0, at('\ndifferent by nature (not counted):\n'));
  for (const key of ['wait.stacks', 'throwaway.created', 'run.sshConnections', 'build.derivationsBuilt']) {
    assert.match(byNature, new RegExp(`^ {2}${key.replace(/\./g, '\\.')}: A .* \\| B `, 'm'));
    assert.doesNotMatch(counted, new RegExp(`^ {2}${key.replace(/\./g, '\\.')}[: ]`, 'm'), `${key} is not among the counted facts`);
  }
  assert.match(counted, /^ {2}live\.toplevel: equal \/nix\/store\//m);
  assert.match(counted, /^ {2}c4\.provisioningLedger: equal /m);
  const coloured = comparisonText(compareRuns(a, b), a, b, true);
  assert.match(coloured, /\x1b\[31mthe runs do not back each other:\x1b\[0m/);
  assert.match(coloured, /c4\.swarm \(\x1b\[31mdifferent\x1b\[0m\)/);
  assert.match(comparisonText(compareRuns(a, liveRun(2)), a, liveRun(2), true), /\x1b\[32mthe runs back each other\x1b\[0m/);
});

test('colour: on a terminal only, and never with NO_COLOR or FORCE_COLOR=0', () => {
  assert.equal(colourWanted(true, {}), true);
  assert.equal(colourWanted(false, {}), false);
  assert.equal(colourWanted(undefined, {}), false);
  assert.equal(colourWanted(true, { NO_COLOR: '1' }), false);
  assert.equal(colourWanted(true, { FORCE_COLOR: '0' }), false);
});

test('--json: both run ids, the criteria, the counted and the by-nature facts, the problems and ok', () => {
  const a = liveRun(1);
  const b = { ...liveRun(2), target: 'lab' as const };
  const json = JSON.parse(JSON.stringify(comparisonJson(compareRuns(a, b), a, b)));
  assert.deepEqual(Object.keys(json).sort(), ['a', 'b', 'byNature', 'criteria', 'ok', 'problems', 'stable']);
  assert.equal(json.a, a.runId);
  assert.equal(json.b, b.runId);
  assert.equal(json.ok, false);
  assert.ok(json.problems.length > 0);
  assert.deepEqual(Object.keys(json.criteria[0]).sort(), ['a', 'b', 'criterion']);
  const swarm = json.stable.find((r: { key: string }) => r.key === 'c4.swarm');
  assert.equal(swarm.state, 'equal');
  assert.ok(swarm.a && swarm.b);
  assert.match(json.stable.find((r: { key: string }) => r.key === 'cert.validity').setAside, /^daysLeft: /);
  assert.ok(json.byNature.every((r: { key: string; state: string }) => typeof r.key === 'string' && typeof r.state === 'string'));
});
