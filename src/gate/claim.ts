import type { RunEvidence } from '../evidence/report';
import { codeSpan, showValue } from '../evidence/report';
import type { Coldness } from './coldness';
import type { GateVerdict } from './verdict';

// The claim file of a live gate run: what the Builder pastes into DECISIONS.md, or what the
// Adversary's rerun answers with. Everything in it is read from the run's evidence.

export interface ClaimContext {
  verdict: GateVerdict;
  coldness: Coldness;
  role: 'builder' | 'adversary';
  who: string;
  /** The profile's hosts and how they are reached. */
  hosts: { name: string; reachedAs: string }[];
  /** The exact command that reruns this gate cold. */
  rerun: string;
}

/** Facts a claim names when its gate includes them: toplevel and NAR hash, cert, stacks, Drone build, public answer. */
const KEY_FACTS: { key: string; what: string }[] = [
  { key: 'live.toplevel', what: "the live host's toplevel" },
  { key: 'live.narHashOnDisk', what: 'its NAR hash, on disk' },
  { key: 'build.toplevel', what: 'the clean rebuild' },
  { key: 'build.narHashOnDisk', what: 'its NAR hash, on disk' },
  { key: 'cert.git', what: 'the cert from git' },
  { key: 'cert.servedToRunner', what: 'the cert served on 443' },
  { key: 'c4.toplevel', what: "the throwaway's toplevel" },
  { key: 'c4.swarm', what: 'the stacks on the throwaway' },
  { key: 'e2e.build', what: 'the Drone build' },
  { key: 'e2e.url', what: 'the public URL' },
  { key: 'e2e.publicAnswer', what: 'its answer through the gateway' },
];

export function factOf(e: Pick<RunEvidence, 'scenarios' | 'runFacts'>, key: string): unknown {
  for (const s of e.scenarios) if (s.facts[key] !== undefined) return s.facts[key]!.value;
  return e.runFacts.find((f) => f.key === key)?.value;
}

/** The base and secrets commits the run saw (the clean build's, else the mirror's and the clone's), where it saw them. */
export function commitsSeen(e: Pick<RunEvidence, 'scenarios' | 'runFacts'>): { repo: 'base' | 'secrets'; commit: string }[] {
  const clone = factOf(e, 'clone.commits') as { base?: string; secrets?: string | null } | undefined;
  const seen: { repo: 'base' | 'secrets'; commit: unknown }[] = [
    { repo: 'base', commit: factOf(e, 'build.baseCommit') ?? factOf(e, 'base.commit') ?? clone?.base },
    {
      repo: 'secrets',
      commit: factOf(e, 'build.secretsCommit') ?? clone?.secrets ?? (factOf(e, 'clone.submodule') as { checkedOut?: string } | undefined)?.checkedOut,
    },
  ];
  return seen
    .filter((s): s is { repo: 'base' | 'secrets'; commit: string } => s.commit !== undefined && s.commit !== null)
    .map((s) => ({ ...s, commit: String(s.commit) }));
}

export function claimMarkdown(e: RunEvidence, c: ClaimContext): string {
  const v = c.verdict;
  const connections = e.connections as { host?: string; hostKeyFingerprint?: string; result?: string }[];
  const fingerprint = (host: string) => connections.find((x) => x.host === host && x.result === 'connected')?.hostKeyFingerprint;
  const commits = commitsSeen(e).map((s) => [`${s.repo} repo`, s.commit] as const);
  const facts = KEY_FACTS.map((k) => ({ ...k, value: factOf(e, k.key) })).filter((k) => k.value !== undefined);
  const lines = [
    `# ${v.line}`,
    '',
    `- Gate: **${v.id}** (criteria ${v.criteria.join(', ')})`,
    `- Verdict: **${v.pass ? 'PASS' : 'FAIL'}**${v.notCold ? ` (not cold: ${v.notCold})` : ''}`,
    `- When: ${e.startedAt} to ${e.finishedAt} (UTC); the verdict counts until **${v.validUntil}** (start + 24 h)`,
    `- Who: ${c.who}, as the **${c.role}**`,
    `- Target: profile \`${e.profile.name}\` (${e.target}, \`${e.profile.path}\`)`,
    ...c.hosts.map((h) => `  - ${h.name}: ${h.reachedAs}${fingerprint(h.name) ? `, host key ${fingerprint(h.name)}` : ''}`),
    `- Harness: \`${e.harness.commit}\`, tree ${e.harness.dirty ? '**dirty**' : 'clean'}`,
    ...commits.map(([what, sha]) => `- ${what}: \`${String(sha)}\``),
    `- Coldness: ${c.coldness.line}`,
    `- Run: \`${e.runId}\` (evidence.json, summary.md, allure-report/ beside this file)`,
    '',
    '## Criteria',
    '',
    '| criterion | scenarios | passed | failed | broken | other |',
    '| --- | --- | --- | --- | --- | --- |',
    ...v.criteria.map((cr) => {
      const n = v.byCriterion[cr]!;
      // Other: skipped, undefined, pending, and the gate's scenarios the run holds no result for.
      const other = (n.skipped ?? 0) + (n.undefined ?? 0) + (n.pending ?? 0) + (n.notRun ?? 0);
      return `| ${cr} | ${n.scenarios} | ${n.passed ?? 0} | ${n.failed ?? 0} | ${n.broken ?? 0} | ${other} |`;
    }),
    '',
    '## Key facts',
    '',
    ...(facts.length ? facts.map((f) => `- ${f.what} (\`${f.key}\`): ${codeSpan(showValue(f.value))}`) : ['- (none of the key facts belong to this gate)']),
    '',
    '## Rerun it cold',
    '',
    '```sh',
    c.rerun,
    '```',
    '',
  ];
  return lines.join('\n');
}
