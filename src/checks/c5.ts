import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { claimThat } from '../claim';
import type { RunEvidence } from '../evidence/report';
import { PROJECT_ROOT } from '../paths';
import type { RunContext } from '../run/context';
import { baseRepoFile } from '../tasks/repos';
import { docText, normalised, type Phrase, regex } from './doc-text';

// C5: D8 is honest: its evidence points at a passing run of this harness, and it says what it
// must and nothing it must not.

const RUN_ID = /\b\d{8}-\d{6}-[0-9a-f]{4}\b/g;

/** The C4 scenarios this harness has (their tags), read from its own feature file. */
export function c4ScenarioTags(): string[] {
  const text = readFileSync(join(PROJECT_ROOT, 'features', 'c4_throwaway_rebuild.feature'), 'utf8');
  return [...new Set(text.match(/@c4-[a-z0-9-]+/g) ?? [])];
}

/** What backs an attached evidence.json beyond its own words: the run's manifest, and this harness's history. */
export interface D8Provenance {
  /** The SHA-256 that the attached manifest.json records for evidence.json; null when there is no readable manifest. */
  manifestSha: string | null;
  /** The SHA-256 of the attached evidence.json as committed. */
  evidenceSha: string;
  /** Whether the run's harness commit is a commit of this harness's repository. */
  commitKnown: boolean;
}

/**
 * What keeps an attached evidence.json from backing D8: it must be a live run of this harness
 * (a commit this harness's history holds), with no lab fault or fault script, every C4 scenario
 * present and passed, started no longer ago than the profile allows, and unchanged since the run
 * ended (its manifest's hash). An empty list means it backs D8.
 */
export function d8RunProblems(
  e: Partial<RunEvidence>,
  id: string,
  opts: { c4Tags: string[]; now: Date; maxAgeMs: number; provenance: D8Provenance },
): string[] {
  const problems: string[] = [];
  const { provenance } = opts;
  if (e.runId !== id) problems.push(`its runId is ${e.runId ?? 'missing'}`);
  if (e.target !== 'live') problems.push(`target ${e.target ?? 'missing'}, not live`);
  if (!Array.isArray(e.faults)) problems.push('no faults list');
  else if (e.faults.length) problems.push(`${e.faults.length} fault(s) applied: ${e.faults.map((f) => f.name).join(', ')}`);
  if (!/^[0-9a-f]{40}$/.test(e.harness?.commit ?? '')) problems.push(`no harness commit (${e.harness?.commit ?? 'missing'})`);
  else if (!provenance.commitKnown) problems.push(`harness commit ${e.harness!.commit.slice(0, 12)} is not a commit of this harness`);
  if (provenance.manifestSha === null) problems.push("no manifest.json beside it (the run's own hashes of its files)");
  else if (provenance.manifestSha !== provenance.evidenceSha) problems.push("evidence.json was changed after the run ended (its hash is not the manifest's)");
  const started = Date.parse(e.startedAt ?? '');
  if (Number.isNaN(started)) problems.push('no start time');
  else if (opts.now.getTime() - started > opts.maxAgeMs) problems.push(`started ${e.startedAt}, more than ${Math.round(opts.maxAgeMs / 86_400_000)} days ago`);
  const scenarios = Array.isArray(e.scenarios) ? e.scenarios : [];
  for (const tag of opts.c4Tags) {
    const s = scenarios.find((x) => x.tags?.includes(tag));
    if (!s) problems.push(`no ${tag}`);
    else if (s.status !== 'passed') problems.push(`${tag} ${s.status}`);
  }
  return problems;
}

function manifestShaOf(text: string | null, file: string): string | null {
  if (text === null) return null;
  try {
    const sha = (JSON.parse(text) as { files?: Record<string, unknown> }).files?.[file];
    return typeof sha === 'string' ? sha : null;
  } catch {
    return null;
  }
}

/** Whether this harness's own repository has the commit: a made-up commit is not a run of this harness. */
async function isHarnessCommit(commit: string | undefined): Promise<boolean> {
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) return false;
  const r = await execa('git', ['-C', PROJECT_ROOT, 'cat-file', '-e', `${commit}^{commit}`], { reject: false });
  return r.exitCode === 0;
}

export async function claimD8PointsAtPassingRun(run: RunContext): Promise<void> {
  const docs = run.profile.docs;
  const texts = await Promise.all(docs.d8.map((p) => docText(run, p, `the base repo holds the D8 evidence ${p}`)));
  const ids = [...new Set(texts.flatMap((t) => t.text.match(RUN_ID) ?? []))];
  const c4Tags = c4ScenarioTags();
  const verdicts: string[] = [];
  const evidence = texts.map((t) => t.evidence);
  let backed = false;
  for (const id of ids) {
    const f = await baseRepoFile(run, `${docs.evidenceDir}/${id}/evidence.json`);
    evidence.push(f.evidence);
    if (f.text === null) {
      verdicts.push(`${id}: no ${docs.evidenceDir}/${id}/evidence.json`);
      continue;
    }
    let e: Partial<RunEvidence>;
    try {
      e = JSON.parse(f.text) as Partial<RunEvidence>;
    } catch {
      verdicts.push(`${id}: evidence.json is not JSON`);
      continue;
    }
    const manifest = await baseRepoFile(run, `${docs.evidenceDir}/${id}/manifest.json`);
    if (manifest.text !== null) evidence.push(manifest.evidence);
    const provenance: D8Provenance = {
      manifestSha: manifestShaOf(manifest.text, 'evidence.json'),
      evidenceSha: createHash('sha256').update(f.text).digest('hex'),
      commitKnown: await isHarnessCommit(e.harness?.commit),
    };
    const problems = d8RunProblems(e, id, { c4Tags, now: new Date(), maxAgeMs: docs.d8MaxAge, provenance });
    verdicts.push(
      `${id}: ${problems.length ? problems.join('; ') : `a live run, no faults, all ${c4Tags.length} C4 scenarios passed, started ${e.startedAt}`}`,
    );
    backed ||= problems.length === 0;
  }
  run.recorder.fact('d8.runs', verdicts, run.profile.roles.build);
  claimThat(backed, {
    claim: 'the D8 evidence points at a live run of this harness, with no fault, whose every C4 scenario passed, recently',
    expected: `a run id in ${docs.d8.join(', ')} with ${docs.evidenceDir}/<run-id>/evidence.json and its manifest.json in the base repo: target live, no faults, a commit of this harness, ${c4Tags.join(' ')} passed, started within ${Math.round(docs.d8MaxAge / 86_400_000)} days, unchanged since the run`,
    seen: ids.length ? verdicts.join('; ') : 'no run id',
    host: run.profile.roles.build,
    evidence,
  });
}

export async function claimD8Says(run: RunContext, must: Phrase[], mustNot: Phrase[]): Promise<void> {
  const texts = await Promise.all(run.profile.docs.d8.map(async (p) => ({ path: p, ...(await docText(run, p, `the base repo holds the D8 evidence ${p}`)) })));
  // Wrapped lines and other spacing read the same: "infeasible\nby  design" is still said.
  const all = normalised(texts.map((t) => t.text).join('\n'));
  const missing = must.filter((p) => !regex(p).test(all));
  const present = mustNot.filter((p) => regex(p).test(all));
  run.recorder.fact(
    'd8.says',
    { docs: texts.map((t) => t.path), missing: missing.map((p) => p.what), forbidden: present.map((p) => p.what) },
    run.profile.roles.build,
  );
  claimThat(missing.length === 0 && present.length === 0, {
    claim: 'the D8 evidence is honest: static byte-identical and a live rebuild, no "infeasible by design"',
    expected: `says ${must.map((p) => p.what).join(', ')}; never ${mustNot.map((p) => p.what).join(', ')}`,
    seen: [...missing.map((p) => `does not say ${p.what}`), ...present.map((p) => `says ${p.what}`)].join('; '),
    host: run.profile.roles.build,
    evidence: texts.map((t) => t.evidence),
  });
}
