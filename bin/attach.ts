import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UsageError } from '../src/errors';
import { manifestChanges } from '../src/evidence/manifest';
import type { RunEvidence } from '../src/evidence/report';
import { REPORTS_DIR } from '../src/paths';

// npm run attach -- RUN --to CHECKOUT: a live run's evidence into the base repo's evidence/ and a
// DECISIONS.md entry. It never commits or pushes; it prints the git commands that would.

const USAGE = `Usage: npm run attach -- RUN --to CHECKOUT [--reports DIR]
Copies the run's summary.md, evidence.json, claim.md and Allure HTML into
CHECKOUT/evidence/<run-id>/ and appends an entry to CHECKOUT/DECISIONS.md. Refuses a lab run, a
run with faults, and a run whose files changed after it ended (its manifest.json). Never commits.`;

function main(argv: string[]): number {
  let to: string | undefined;
  let reports = REPORTS_DIR;
  const runs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (a === '--to') to = argv[++i];
    else if (a === '--reports') reports = resolve(argv[++i] ?? '');
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}\n${USAGE}`);
    else runs.push(a);
  }
  if (runs.length !== 1 || !to) throw new UsageError(USAGE);
  const dir = [resolve(runs[0]!), join(reports, runs[0]!)].find((p) => existsSync(join(p, 'evidence.json')));
  if (!dir) throw new UsageError(`${runs[0]}: no run folder with an evidence.json`);
  const checkout = resolve(to);
  if (!existsSync(join(checkout, '.git'))) throw new UsageError(`--to ${to}: not a git checkout`);
  const e = JSON.parse(readFileSync(join(dir, 'evidence.json'), 'utf8')) as RunEvidence;
  const refusals: string[] = [];
  if (e.target !== 'live') refusals.push(`it is a ${e.target} run: not evidence`);
  if (e.faults?.length) refusals.push(`it had faults applied (${e.faults.map((f) => f.name).join(', ')})`);
  if (!existsSync(join(dir, 'claim.md'))) refusals.push('it has no claim.md (run it with --gate)');
  const leakScan = join(dir, 'leak-scan.json');
  const leaks = existsSync(leakScan) ? (JSON.parse(readFileSync(leakScan, 'utf8')) as { hits: unknown[]; errors: unknown[] }) : undefined;
  if (!leaks) refusals.push('it has no leak-scan.json: its files were never searched for secrets');
  else if (leaks.hits.length || leaks.errors.length)
    refusals.push(`its leak scan found ${leaks.hits.length} secret(s) and ${leaks.errors.length} unreadable file(s) (leak-scan.json)`);
  const changes = manifestChanges(dir);
  if ('error' in changes) refusals.push(changes.error);
  else {
    const touched = [...changes.changed.map((f) => `${f} changed`), ...changes.missing.map((f) => `${f} missing`), ...changes.added.map((f) => `${f} added`)];
    if (touched.length)
      refusals.push(`its files changed after it ended: ${touched.slice(0, 5).join(', ')}${touched.length > 5 ? ` and ${touched.length - 5} more` : ''}`);
  }
  if (refusals.length) {
    process.stderr.write(`attach: refusing run ${e.runId}:\n${refusals.map((r) => `  - ${r}`).join('\n')}\n`);
    return 1;
  }
  const dest = join(checkout, 'evidence', e.runId);
  mkdirSync(dest, { recursive: true });
  for (const f of ['summary.md', 'evidence.json', 'claim.md', 'manifest.json', 'leak-scan.json']) cpSync(join(dir, f), join(dest, f));
  if (existsSync(join(dir, 'allure-report')) && statSync(join(dir, 'allure-report')).isDirectory())
    cpSync(join(dir, 'allure-report'), join(dest, 'allure-report'), { recursive: true });
  const decisions = join(checkout, 'DECISIONS.md');
  const rel = relative(checkout, dest);
  const line = e.gate?.line ?? `run ${e.runId}`;
  // Attaching a run again refreshes its folder; DECISIONS keeps one entry per run.
  const already = existsSync(decisions) && readFileSync(decisions, 'utf8').includes(`(${rel}/claim.md)`);
  if (!already)
    appendFileSync(
      decisions,
      `${existsSync(decisions) ? '\n' : '# Decisions\n\n'}- ${e.startedAt}: ${line}, as the ${e.role ?? 'builder'}; counts until ${e.gate?.validUntil ?? '?'}. Evidence: [${rel}/](${rel}/claim.md)\n`,
    );
  process.stdout.write(
    [
      `attached run ${e.runId} to ${dest}`,
      already ? `${decisions} already has its entry: ${line}` : `and added to ${decisions}: ${line}`,
      '',
      'to record it (nothing was committed):',
      `  git -C ${checkout} add ${rel} DECISIONS.md`,
      `  git -C ${checkout} commit -m "evidence: ${line}"`,
      `  git -C ${checkout} push`,
      '',
    ].join('\n'),
  );
  return 0;
}

try {
  process.exit(main(process.argv.slice(2)));
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
