import type { RunEvidence, ScenarioStatus } from '../evidence/report';

// A gate's verdict from a run's evidence: PASS only when every criterion the gate needs has at
// least one scenario and every one of them passed. Never a vacuous pass: a criterion with no
// scenario, or a scenario skipped, undefined, pending or broken, fails the gate.

/** How long a PASS counts (DOMAIN.md: a PASS older than 24 h does not count). */
export const VALID_FOR_MS = 24 * 3_600_000;

export interface GateVerdict {
  id: string;
  criteria: string[];
  pass: boolean;
  /** Per criterion: how many scenarios, by status. */
  byCriterion: Record<string, Partial<Record<ScenarioStatus, number>> & { scenarios: number }>;
  /** A lab run is never evidence; an Adversary run that is not cold says so. */
  lab: boolean;
  notCold?: string;
  validUntil: string;
  /** The one line the run ends with. */
  line: string;
}

export function gateVerdict(
  e: Pick<RunEvidence, 'scenarios' | 'target' | 'startedAt'>,
  id: string,
  criteria: string[],
  opts: { role?: string; notCold?: string } = {},
): GateVerdict {
  const byCriterion: GateVerdict['byCriterion'] = {};
  const problems: string[] = [];
  for (const c of criteria) {
    const mine = e.scenarios.filter((s) => s.criteria.includes(c));
    const counts: GateVerdict['byCriterion'][string] = { scenarios: mine.length };
    for (const s of mine) counts[s.status] = (counts[s.status] ?? 0) + 1;
    byCriterion[c] = counts;
    if (!mine.length) problems.push(`${c}: no scenario selected`);
    else {
      const red = (['failed', 'broken', 'skipped', 'undefined', 'pending'] as const).filter((st) => counts[st]).map((st) => `${counts[st]} ${st}`);
      if (red.length) problems.push(`${c}: ${red.join(', ')}`);
    }
  }
  const pass = problems.length === 0;
  const lab = e.target === 'lab';
  const notCold = opts.role === 'adversary' ? opts.notCold : undefined;
  const verdict = pass ? `PASS${notCold ? ` (not cold: ${notCold})` : ''}` : `FAIL (${problems.join('; ')})`;
  const validUntil = new Date(Date.parse(e.startedAt) + VALID_FOR_MS).toISOString();
  return { id, criteria, pass, byCriterion, lab, notCold, validUntil, line: `GATE ${id}: ${verdict}${lab ? ' — LAB — not evidence' : ''}` };
}
