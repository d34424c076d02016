import { claimThat } from '../claim';
import type { RunContext } from '../run/context';
import { baseRepoFile } from '../tasks/repos';
import { docText, normalised, type Phrase, regex } from './doc-text';

// C7: the docs say how the system is installed, where its secrets live and how it is built, and
// none of them still gives a retired step. (C6 asks DECISIONS.md the same way.)

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
