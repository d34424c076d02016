import type { RunEvidence, ScenarioStatus } from '../evidence/report';

// A gate's verdict from a run's evidence: PASS only when every criterion the gate needs has at
// least one scenario and every one of them passed. Never a vacuous pass: a criterion with no
// scenario, or a scenario skipped, undefined, pending or broken, fails the gate. Given the gate's
// scenarios (every scenario of its criteria, from the features), it also fails a run that holds
// no result for one of them: a partial run never reads as a whole one.

/** How long a PASS counts (DOMAIN.md: a PASS older than 24 h does not count). */
export const VALID_FOR_MS = 24 * 3_600_000;

/** A scenario by where it is and what it is called (a scenario outline's examples share both, each counted). */
export interface ScenarioRef {
  uri: string;
  name: string;
}

export interface GateVerdict {
  id: string;
  criteria: string[];
  pass: boolean;
  /** Per criterion: how many scenarios, by status; with the gate's scenarios known, how many it has and how many have no result. */
  byCriterion: Record<string, Partial<Record<ScenarioStatus, number>> & { scenarios: number; expected?: number; notRun?: number }>;
  /** Scenarios of the gate the run holds no result for. */
  missing?: (ScenarioRef & { criterion: string })[];
  /** A lab run is never evidence; an Adversary run that is not cold says so. */
  lab: boolean;
  notCold?: string;
  validUntil: string;
  /** The one line the run ends with. */
  line: string;
}

const refKey = (s: ScenarioRef) => `${s.uri}\u0000${s.name}`;

/** What `expected` holds that `seen` does not, counted: each expected scenario needs a result of its own. */
export function notRunOf(expected: readonly ScenarioRef[], seen: readonly ScenarioRef[]): ScenarioRef[] {
  const left = new Map<string, number>();
  for (const s of seen) left.set(refKey(s), (left.get(refKey(s)) ?? 0) + 1);
  const missing: ScenarioRef[] = [];
  for (const s of expected) {
    const n = left.get(refKey(s)) ?? 0;
    if (n > 0) left.set(refKey(s), n - 1);
    else missing.push({ uri: s.uri, name: s.name });
  }
  return missing;
}

export function gateVerdict(
  e: Pick<RunEvidence, 'scenarios' | 'target' | 'startedAt'>,
  id: string,
  criteria: string[],
  opts: { role?: string; notCold?: string; expected?: Record<string, readonly ScenarioRef[]> } = {},
): GateVerdict {
  const byCriterion: GateVerdict['byCriterion'] = {};
  const problems: string[] = [];
  const missing: NonNullable<GateVerdict['missing']> = [];
  for (const c of criteria) {
    const mine = e.scenarios.filter((s) => s.criteria.includes(c));
    const counts: GateVerdict['byCriterion'][string] = { scenarios: mine.length };
    for (const s of mine) counts[s.status] = (counts[s.status] ?? 0) + 1;
    const expected = opts.expected?.[c];
    const notRun = expected ? notRunOf(expected, mine) : [];
    if (expected) {
      counts.expected = expected.length;
      counts.notRun = notRun.length;
      missing.push(...notRun.map((s) => ({ criterion: c, ...s })));
    }
    byCriterion[c] = counts;
    const red = (['failed', 'broken', 'skipped', 'undefined', 'pending'] as const).filter((st) => counts[st]).map((st) => `${counts[st]} ${st}`);
    if (notRun.length) red.push(`${notRun.length} of ${expected!.length} scenario${expected!.length === 1 ? '' : 's'} not run`);
    if (!mine.length && !notRun.length) problems.push(`${c}: no scenario selected`);
    else if (red.length) problems.push(`${c}: ${red.join(', ')}`);
  }
  const pass = problems.length === 0;
  const lab = e.target === 'lab';
  const notCold = opts.role === 'adversary' ? opts.notCold : undefined;
  const verdict = pass ? `PASS${notCold ? ` (not cold: ${notCold})` : ''}` : `FAIL (${problems.join('; ')})`;
  const validUntil = new Date(Date.parse(e.startedAt) + VALID_FOR_MS).toISOString();
  return {
    id,
    criteria,
    pass,
    byCriterion,
    ...(opts.expected ? { missing } : {}),
    lab,
    notCold,
    validUntil,
    line: `GATE ${id}: ${verdict}${lab ? ' — LAB — not evidence' : ''}`,
  };
}
