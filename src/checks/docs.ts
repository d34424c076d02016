import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { claimThat } from '../claim';
import { PROJECT_ROOT } from '../paths';
import type { RunEvidence } from '../evidence/report';
import { type Instance, type Incus, LABEL, labelsOf, parseIncusBytes, showSize } from '../drivers/incus';
import type { RunContext } from '../run/context';
import { baseRepoFile } from '../tasks/repos';
import { incusOf, throwawayVm } from '../tasks/throwaway';

// C5 (honest D8), C6 (resource fit and cleanup) and C7 (docs): claims about what the base repo
// says and what Incus holds.

export interface Phrase {
  what: string;
  pattern: string;
}

function regex(p: Phrase): RegExp {
  return new RegExp(p.pattern, 'im');
}

async function docText(run: RunContext, path: string, claim: string): Promise<{ text: string; evidence: string }> {
  const f = await baseRepoFile(run, path);
  claimThat(f.text !== null, {
    claim,
    expected: `${path} in the base repo`,
    seen: f.cloneOk ? `no ${path}` : 'no clean clone of the base repo',
    host: run.profile.roles.build,
    evidence: [f.evidence],
  });
  return { text: f.text, evidence: f.evidence };
}

export async function claimDocSays(run: RunContext, path: string, phrases: Phrase[]): Promise<void> {
  const doc = await docText(run, path, `the base repo documents the new model in ${path}`);
  const missing = phrases.filter((p) => !regex(p).test(doc.text));
  run.recorder.fact(
    `docs.${path}`,
    { says: phrases.filter((p) => !missing.includes(p)).map((p) => p.what), missing: missing.map((p) => p.what) },
    run.profile.roles.build,
  );
  claimThat(missing.length === 0, {
    claim: `${path} describes the new model`,
    expected: phrases.map((p) => `${p.what} (/${p.pattern}/)`).join('; '),
    seen: `missing: ${missing.map((p) => p.what).join('; ')}`,
    host: run.profile.roles.build,
    evidence: [doc.evidence],
  });
}

export async function claimDocsAvoid(run: RunContext, paths: string[], retired: Phrase[]): Promise<void> {
  const found: string[] = [];
  const evidence: string[] = [];
  for (const path of paths) {
    const doc = await baseRepoFile(run, path);
    evidence.push(doc.evidence);
    if (doc.text === null) continue;
    const text = normalised(doc.text);
    for (const p of retired) {
      const m = regex(p).exec(text);
      if (m) found.push(`${path}: ${p.what} ("${m[0].slice(0, 80)}")`);
    }
  }
  run.recorder.fact('docs.retiredSteps', { searched: paths, found }, run.profile.roles.build);
  claimThat(found.length === 0, {
    claim: 'no doc still describes a retired step',
    expected: `none of: ${retired.map((r) => r.what).join('; ')}`,
    seen: found.join('; '),
    host: run.profile.roles.build,
    evidence,
  });
}

const RUN_ID = /\b\d{8}-\d{6}-[0-9a-f]{4}\b/g;

/** The C4 scenarios this harness has (their tags), read from its own feature file. */
export function c4ScenarioTags(): string[] {
  const text = readFileSync(join(PROJECT_ROOT, 'features', 'c4_throwaway_rebuild.feature'), 'utf8');
  return [...new Set(text.match(/@c4-[a-z0-9-]+/g) ?? [])];
}

/**
 * What keeps an attached evidence.json from backing D8: it must be a live run of this harness
 * (a harness commit), with no lab fault or fault script, every C4 scenario present and passed,
 * started no longer ago than the profile allows. An empty list means it backs D8.
 */
export function d8RunProblems(e: Partial<RunEvidence>, id: string, opts: { c4Tags: string[]; now: Date; maxAgeMs: number }): string[] {
  const problems: string[] = [];
  if (e.runId !== id) problems.push(`its runId is ${e.runId ?? 'missing'}`);
  if (e.target !== 'live') problems.push(`target ${e.target ?? 'missing'}, not live`);
  if (!Array.isArray(e.faults)) problems.push('no faults list');
  else if (e.faults.length) problems.push(`${e.faults.length} fault(s) applied: ${e.faults.map((f) => f.name).join(', ')}`);
  if (!/^[0-9a-f]{40}$/.test(e.harness?.commit ?? '')) problems.push(`no harness commit (${e.harness?.commit ?? 'missing'})`);
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
    const problems = d8RunProblems(e, id, { c4Tags, now: new Date(), maxAgeMs: docs.d8MaxAge });
    verdicts.push(
      `${id}: ${problems.length ? problems.join('; ') : `a live run, no faults, all ${c4Tags.length} C4 scenarios passed, started ${e.startedAt}`}`,
    );
    backed ||= problems.length === 0;
  }
  run.recorder.fact('d8.runs', verdicts, run.profile.roles.build);
  claimThat(backed, {
    claim: 'the D8 evidence points at a live run of this harness, with no fault, whose every C4 scenario passed, recently',
    expected: `a run id in ${docs.d8.join(', ')} with ${docs.evidenceDir}/<run-id>/evidence.json in the base repo: target live, no faults, a harness commit, ${c4Tags.join(' ')} passed, started within ${Math.round(docs.d8MaxAge / 86_400_000)} days`,
    seen: ids.length ? verdicts.join('; ') : 'no run id',
    host: run.profile.roles.build,
    evidence,
  });
}

/** Text as it reads: whitespace (line wraps too) collapsed to one space, case folded. */
export function normalised(text: string): string {
  return text.replace(/\s+/g, ' ').toLowerCase();
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

/** What a VM's guest may keep below its limit (the kernel's own): MemTotal reads 90-100 % of it. */
const GUEST_RESERVE = 0.1;

interface MemoryReading {
  name: string;
  configured?: string;
  configuredBytes?: number;
  runningBytes?: number;
  problems: string[];
}

/** limits.memory as Incus expands it, in bytes by Incus's rules, and what the running instance has. */
function memoryOf(i: Instance | undefined, name: string, expectedBytes: number): MemoryReading {
  if (!i) return { name, problems: [`no instance ${name}`] };
  const configured = i.expanded_config?.['limits.memory'] ?? i.config['limits.memory'];
  const configuredBytes = configured === undefined ? undefined : parseIncusBytes(configured);
  const runningBytes = i.state?.memory?.total;
  const problems: string[] = [];
  if (configuredBytes !== expectedBytes) problems.push(`limits.memory = ${showSize(configured, configuredBytes)}`);
  if (i.status !== 'Running' || runningBytes === undefined || runningBytes === 0) problems.push(`not running (${i.status}), so no memory in use to read`);
  else if (runningBytes > expectedBytes || runningBytes < expectedBytes * (1 - GUEST_RESERVE))
    problems.push(`it runs with ${runningBytes} bytes (state.memory.total)`);
  return { name, configured, configuredBytes, runningBytes, problems };
}

function claimMemory(run: RunContext, what: string, reading: MemoryReading, size: string, host: string, evidence: string): void {
  const expectedBytes = parseIncusBytes(size);
  run.recorder.fact(
    what === 'live' ? 'c6.liveInstance' : 'c6.throwaway',
    {
      name: reading.name,
      limitsMemory: reading.configured ?? null,
      bytes: reading.configuredBytes ?? null,
      runningBytes: reading.runningBytes ?? null,
      expected: showSize(size),
    },
    host,
  );
  claimThat(reading.problems.length === 0, {
    claim: `${what === 'live' ? reading.name : `the throwaway VM ${reading.name}`} is sized at ${size}, configured and running`,
    expected: `limits.memory = ${showSize(size, expectedBytes)} by Incus's units, and the running instance at most that and at least ${Math.round((1 - GUEST_RESERVE) * 100)} % of it`,
    seen: reading.problems.join('; '),
    host,
    evidence: [evidence],
  });
}

export async function claimLiveInstanceMemory(run: RunContext, size: string): Promise<void> {
  const incus = incusOf(run);
  const name = run.profile.incus!.liveInstance;
  const expected = sizeBytes(size);
  claimMemory(run, 'live', memoryOf(await incus.get(name), name, expected), size, incus.host.name, incus.lastListEvidence);
}

export async function claimThrowawayMemory(run: RunContext, size: string): Promise<void> {
  const vm = await throwawayVm(run);
  const expected = sizeBytes(size);
  claimMemory(run, 'throwaway', memoryOf(await vm.incus.get(vm.name), vm.name, expected), size, vm.incus.host.name, vm.incus.lastListEvidence);
}

function sizeBytes(size: string): number {
  const b = parseIncusBytes(size);
  if (b === undefined) throw new Error(`the feature's size ${JSON.stringify(size)} is not a size Incus accepts`);
  return b;
}

/**
 * No instance is left in the project but the live one and those the operator keeps (--keep, or
 * labelled keep=operator): an unlabelled VM made by hand counts, and so does one this harness kept
 * for debugging.
 */
export async function claimNoLeftovers(run: RunContext): Promise<void> {
  const incus: Incus = incusOf(run);
  const all = await incus.list();
  const live = run.profile.incus!.liveInstance;
  const keptBy = (i: Instance) =>
    i.name === live
      ? 'the live instance'
      : run.params.keep.includes(i.name)
        ? '--keep'
        : i.config[`${LABEL}.keep`] === 'operator'
          ? 'keep=operator'
          : undefined;
  const left = all.filter((i) => !keptBy(i) && !run.throwaways.has(i.name));
  const describe = (i: Instance) => {
    const l = labelsOf(i);
    if (!l) return `${i.name} (no labels: not made by this harness)`;
    return `${i.name} (run ${l.run}, expires ${l.expires}${l.keep ? `, kept: ${l.keep}` : ''})`;
  };
  run.recorder.fact(
    'c6.instances',
    all.map((i) => ({ name: i.name, labelled: !!labelsOf(i), run: labelsOf(i)?.run, keptBy: keptBy(i) ?? null, keepLabel: i.config[`${LABEL}.keep`] ?? null })),
    incus.host.name,
  );
  claimThat(left.length === 0, {
    claim: 'no throwaway VM is left behind: nothing in the project but the live instance and what the operator keeps',
    expected: `only ${[live, ...all.filter((i) => keptBy(i) && i.name !== live).map((i) => `${i.name} (${keptBy(i)})`)].join(', ')} in ${incus.project}`,
    seen: `also: ${left.map(describe).join(', ')}`,
    host: incus.host.name,
    evidence: [incus.lastListEvidence],
  });
}
