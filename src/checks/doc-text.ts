import { claimThat } from '../claim';
import type { RunContext } from '../run/context';
import { baseRepoFile } from '../tasks/repos';

// What the base repo's documents say, read as evidence: a phrase is a pattern with the words a
// red message shows; text is compared as it reads, whitespace collapsed and case folded.

export interface Phrase {
  what: string;
  pattern: string;
}

export function regex(p: Phrase): RegExp {
  return new RegExp(p.pattern, 'im');
}

export async function docText(run: RunContext, path: string, claim: string): Promise<{ text: string; evidence: string }> {
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

/** Text as it reads: whitespace (line wraps too) collapsed to one space, case folded. */
export function normalised(text: string): string {
  return text.replace(/\s+/g, ' ').toLowerCase();
}
