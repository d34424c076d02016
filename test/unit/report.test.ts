import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { codeSpan, scenarioResults, showValue } from '../../src/evidence/report';
import { resolveSubmoduleUrl, sameRepo } from '../../src/checks/c1';
import { flakeRefFrom } from '../../src/tasks/system';
import { installSteps, substitute } from '../../src/tasks/throwaway';
import { tempDir } from '../helpers';

function messages(results: { status: string; type?: string }[][]): string {
  const lines: unknown[] = [{ gherkinDocument: { uri: 'f.feature', feature: { name: 'F' } } }];
  results.forEach((steps, i) => {
    lines.push({
      pickle: { id: `p${i}`, uri: 'f.feature', name: `s${i}`, tags: [{ name: '@C1' }], steps: steps.map((_, j) => ({ id: `ps${i}-${j}`, text: `step ${j}` })) },
    });
    lines.push({ testCase: { id: `tc${i}`, pickleId: `p${i}`, testSteps: steps.map((_, j) => ({ id: `ts${i}-${j}`, pickleStepId: `ps${i}-${j}` })) } });
    lines.push({ testCaseStarted: { id: `tcs${i}`, testCaseId: `tc${i}`, attempt: 0 } });
    steps.forEach((s, j) =>
      lines.push({
        testStepFinished: {
          testCaseStartedId: `tcs${i}`,
          testStepId: `ts${i}-${j}`,
          testStepResult: {
            status: s.status,
            duration: { seconds: 0, nanos: 1e6 },
            ...(s.type ? { exception: { type: s.type, message: `${s.type} said no` } } : {}),
          },
        },
      }),
    );
  });
  const file = join(tempDir('msg-'), 'messages.ndjson');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
  return file;
}

test('a claim that does not hold is failed; a host that cannot be used is broken', () => {
  const r = scenarioResults(
    messages([
      [{ status: 'PASSED' }, { status: 'PASSED' }],
      [{ status: 'PASSED' }, { status: 'FAILED', type: 'ClaimAssertionError' }],
      [{ status: 'FAILED', type: 'HostBrokenError' }, { status: 'SKIPPED' }],
      [{ status: 'FAILED', type: 'AssertionError' }],
      [{ status: 'UNDEFINED' }],
      [{ status: 'PASSED' }, { status: 'PENDING' }],
      [{ status: 'SKIPPED' }],
      [{ status: 'FAILED', type: 'TypeError' }],
    ]),
  );
  assert.deepEqual(
    r.map((s) => s.status),
    ['passed', 'failed', 'broken', 'failed', 'undefined', 'pending', 'skipped', 'broken'],
  );
  assert.equal(r[1]!.message, 'ClaimAssertionError said no');
  assert.equal(r[1]!.failedStep, 'step 1');
  assert.deepEqual(r[0]!.criteria, ['C1']);
});

test('submodule URLs resolve as git resolves them', () => {
  assert.equal(resolveSubmoduleUrl('ssh://git@h:2222/org/cc-ci.git', '../cc-ci-secrets.git'), 'ssh://git@h:2222/org/cc-ci-secrets.git');
  assert.equal(resolveSubmoduleUrl('git@h:org/cc-ci.git', '../cc-ci-secrets.git'), 'git@h:org/cc-ci-secrets.git');
  assert.equal(resolveSubmoduleUrl('x', 'ssh://abs/repo.git'), 'ssh://abs/repo.git');
  assert.ok(sameRepo('ssh://h/a/b.git', 'ssh://h/a/b/'));
  assert.ok(!sameRepo('ssh://h/a/b.git', 'ssh://h/a/b-old.git'));
});

test("the feature's nixos-rebuild command is turned into the flake reference for the clone", () => {
  assert.equal(flakeRefFrom("nixos-rebuild build --flake 'git+file://<clone>?submodules=1#cc-ci'", '/w/cc-ci'), 'git+file:///w/cc-ci?submodules=1#cc-ci');
  assert.throws(() => flakeRefFrom('nixos-rebuild switch --flake x', '/w'), /expected a command of the form/);
});

test('install steps are the fenced shell blocks marked install-step, in order, with placeholders filled in', () => {
  const md =
    "# Install\n\n```sh install-step\ngit clone --recursive <base-repo-url> /root/cc-ci\n```\n\n```sh\necho not a step\n```\n\n```bash install-step\nnixos-rebuild switch --flake 'x'\n```\n";
  const steps = installSteps(md).map((b) => substitute(b, { '<base-repo-url>': 'ssh://h/r.git' }));
  assert.deepEqual(steps, ['git clone --recursive ssh://h/r.git /root/cc-ci', "nixos-rebuild switch --flake 'x'"]);
});

test("summary cells show an object's fields whole (a fingerprint, a URL) and clip only what is long", () => {
  const fp = Array.from({ length: 32 }, () => 'C8').join(':');
  const cell = showValue({ url: 'https://cust-4b17a8.ci.lab.test', status: 200, fingerprint256: fp, error: undefined, body: 'x'.repeat(300) });
  assert.ok(cell.startsWith(`url=https://cust-4b17a8.ci.lab.test, status=200, fingerprint256=${fp}, body=xxx`));
  assert.ok(!cell.includes('error='));
  assert.match(cell, /x…$/);
  assert.equal(showValue('/nix/store/abc'), '/nix/store/abc');
  assert.equal(showValue(['a', 'b']), '["a","b"]');
  assert.equal(showValue('y'.repeat(200)).length, 120);
  assert.equal(codeSpan('a'), '`a`');
  assert.equal(codeSpan('✅ `!testme` passed'), '`` ✅ `!testme` passed ``');
});
