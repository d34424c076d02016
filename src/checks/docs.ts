import { claimThat } from '../claim';
import type { RunEvidence } from '../evidence/report';
import { Incus, labelsOf } from '../drivers/incus';
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
  run.recorder.fact(`docs.${path}`, { says: phrases.filter((p) => !missing.includes(p)).map((p) => p.what), missing: missing.map((p) => p.what) }, run.profile.roles.build);
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
    for (const p of retired) {
      const m = regex(p).exec(doc.text);
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

export async function claimD8PointsAtPassingRun(run: RunContext): Promise<void> {
  const docs = run.profile.docs;
  const texts = await Promise.all(docs.d8.map((p) => docText(run, p, `the base repo holds the D8 evidence ${p}`)));
  const ids = [...new Set(texts.flatMap((t) => t.text.match(RUN_ID) ?? []))];
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
    let e: RunEvidence;
    try {
      e = JSON.parse(f.text) as RunEvidence;
    } catch {
      verdicts.push(`${id}: evidence.json is not JSON`);
      continue;
    }
    const c4 = e.scenarios?.filter((s) => s.criteria?.includes('C4')) ?? [];
    const ok = e.runId === id && c4.length > 0 && c4.every((s) => s.status === 'passed');
    verdicts.push(`${id}: ${c4.length} C4 scenario(s), ${c4.filter((s) => s.status === 'passed').length} passed, target ${e.target}`);
    backed ||= ok;
  }
  run.recorder.fact('d8.runs', verdicts, run.profile.roles.build);
  claimThat(backed, {
    claim: 'the D8 evidence points at a run of this harness whose C4 passed',
    expected: `a run id in ${docs.d8.join(', ')} with ${docs.evidenceDir}/<run-id>/evidence.json in the base repo, every C4 scenario passed`,
    seen: ids.length ? verdicts.join('; ') : 'no run id',
    host: run.profile.roles.build,
    evidence,
  });
}

export async function claimD8Says(run: RunContext, must: Phrase[], mustNot: Phrase[]): Promise<void> {
  const texts = await Promise.all(run.profile.docs.d8.map(async (p) => ({ path: p, ...(await docText(run, p, `the base repo holds the D8 evidence ${p}`)) })));
  const all = texts.map((t) => t.text).join('\n');
  const missing = must.filter((p) => !regex(p).test(all));
  const present = mustNot.filter((p) => regex(p).test(all));
  run.recorder.fact('d8.says', { docs: texts.map((t) => t.path), missing: missing.map((p) => p.what), forbidden: present.map((p) => p.what) }, run.profile.roles.build);
  claimThat(missing.length === 0 && present.length === 0, {
    claim: 'the D8 evidence is honest: static byte-identical and a live rebuild, no "infeasible by design"',
    expected: `says ${must.map((p) => p.what).join(', ')}; never ${mustNot.map((p) => p.what).join(', ')}`,
    seen: [...missing.map((p) => `does not say ${p.what}`), ...present.map((p) => `says ${p.what}`)].join('; '),
    host: run.profile.roles.build,
    evidence: texts.map((t) => t.evidence),
  });
}

export async function claimLiveInstanceMemory(run: RunContext, size: string): Promise<void> {
  const incus = incusOf(run);
  const name = run.profile.incus!.liveInstance;
  const i = await incus.get(name);
  const memory = i?.expanded_config?.['limits.memory'] ?? i?.config['limits.memory'];
  run.recorder.fact('c6.liveInstance', { name, limitsMemory: memory ?? null, status: i?.status }, incus.host.name);
  claimThat(memory === size, {
    claim: `${name} is sized at ${size}`,
    expected: `limits.memory = ${size}`,
    seen: i ? `limits.memory = ${memory ?? '(unset)'}` : `no instance ${name} in project ${incus.project}`,
    host: incus.host.name,
    evidence: [incus.lastListEvidence],
  });
}

export async function claimThrowawayMemory(run: RunContext, size: string): Promise<void> {
  const vm = await throwawayVm(run);
  const i = await vm.incus.get(vm.name);
  const memory = i?.expanded_config?.['limits.memory'] ?? i?.config['limits.memory'];
  run.recorder.fact('c6.throwaway', { name: vm.name, limitsMemory: memory ?? null }, vm.incus.host.name);
  claimThat(memory === size, {
    claim: `the throwaway VM was created at ${size}`,
    expected: `limits.memory = ${size}`,
    seen: `limits.memory = ${memory ?? '(unset)'}`,
    host: vm.incus.host.name,
    evidence: [vm.incus.lastListEvidence],
  });
}

/** Labelled instances left over: not this run's own (finished before this check), not kept. */
export async function claimNoLeftovers(run: RunContext): Promise<void> {
  const incus: Incus = incusOf(run);
  const all = await incus.list();
  const ours = all.filter((i) => labelsOf(i));
  const kept = ours.filter((i) => run.params.keep.includes(i.name) || labelsOf(i)!.keep);
  const left = ours.filter((i) => !kept.includes(i) && !run.throwaways.has(i.name));
  run.recorder.fact('c6.instances', all.map((i) => ({ name: i.name, labelled: !!labelsOf(i), run: labelsOf(i)?.run, kept: labelsOf(i)?.keep ?? (run.params.keep.includes(i.name) ? 'operator' : undefined) })), incus.host.name);
  claimThat(left.length === 0, {
    claim: 'no throwaway VM is left behind',
    expected: `no instance with the harness's labels in ${incus.project}, apart from kept ones (${kept.map((k) => k.name).join(', ') || 'none'})`,
    seen: left.map((i) => `${i.name} (run ${labelsOf(i)!.run}, expires ${labelsOf(i)!.expires})`).join(', '),
    host: incus.host.name,
    evidence: [incus.lastListEvidence],
  });
}
