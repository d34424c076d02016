import { isDeepStrictEqual } from 'node:util';
import type { RunEvidence } from '../evidence/report';
import { VALID_FOR_MS } from './verdict';

// A claim and its rerun, side by side: per criterion both statuses, per fact both values. Facts
// that differ between runs by nature (times, run ids, the throwaway's name, build numbers,
// durations) are listed apart and never counted; every other difference is a finding.

export type FactState = 'equal' | 'different' | 'only in A' | 'only in B';

export interface FactRow {
  key: string;
  a?: unknown;
  b?: unknown;
  state: FactState;
}

export interface Comparison {
  criteria: { criterion: string; a: string; b: string }[];
  stable: FactRow[];
  byNature: FactRow[];
  /** Why the two runs do not back each other: empty when they do. */
  problems: string[];
  ok: boolean;
}

/** Facts whose value is new in every run by design. */
const BY_NATURE = [
  /^wait\./,
  /^throwaway\./,
  /^run\./,
  /^e2e\.(build|url|comment|pending|reported|finished|afterwards|quiet|bridgeAlive|publicAnswer|outsider)$/,
  /^c4\.(settle|install|generations|appeared|provisioningLedger|beforeProvisioning|incusProvisioning|swarm)$/,
  /^c6\.(throwaway|instances)$/,
  /^d8\.runs$/,
  /^warning$/,
  /^build\.derivationsBuilt$/,
];

/** Inside a stable fact, fields that vary by nature (times, durations, counts of polls). */
const VOLATILE_FIELDS = /^(at|.*At|.*Ms|.*Seconds|seconds|durationMs|polls|history)$/;

/** A value with what varies by nature taken out: volatile fields, and the run's own id (in its work paths). */
function stripVolatile(v: unknown, runId: string): unknown {
  if (typeof v === 'string') return v.split(runId).join('<run-id>');
  if (Array.isArray(v)) return v.map((x) => stripVolatile(x, runId));
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE_FIELDS.test(k))
        .map(([k, x]) => [k, stripVolatile(x, runId)]),
    );
  return v;
}

/** Every fact of a run, by key (a key asserted by several scenarios keeps its first value). */
export function factsOf(e: RunEvidence): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const s of e.scenarios) for (const [k, f] of Object.entries(s.facts)) if (!m.has(k)) m.set(k, f.value);
  for (const f of e.runFacts) if (!m.has(f.key)) m.set(f.key, f.value);
  return m;
}

function statusOf(e: RunEvidence, criterion: string): string {
  const mine = e.scenarios.filter((s) => s.criteria.includes(criterion));
  if (!mine.length) return 'not run';
  const counts = new Map<string, number>();
  for (const s of mine) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  return [...counts].map(([st, n]) => `${n} ${st}`).join(', ');
}

export function compareRuns(a: RunEvidence, b: RunEvidence): Comparison {
  const criteria = [
    ...new Set([
      ...(a.gate?.criteria ?? []),
      ...(b.gate?.criteria ?? []),
      ...a.scenarios.flatMap((s) => s.criteria),
      ...b.scenarios.flatMap((s) => s.criteria),
    ]),
  ].sort();
  const fa = factsOf(a);
  const fb = factsOf(b);
  const stable: FactRow[] = [];
  const byNature: FactRow[] = [];
  for (const key of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
    const inA = fa.has(key);
    const inB = fb.has(key);
    const row: FactRow = {
      key,
      a: fa.get(key),
      b: fb.get(key),
      state: !inA
        ? 'only in B'
        : !inB
          ? 'only in A'
          : isDeepStrictEqual(stripVolatile(fa.get(key), a.runId), stripVolatile(fb.get(key), b.runId))
            ? 'equal'
            : 'different',
    };
    (BY_NATURE.some((re) => re.test(key)) ? byNature : stable).push(row);
  }
  const problems: string[] = [];
  for (const [name, e] of [
    ['A', a],
    ['B', b],
  ] as const) {
    if (e.target !== 'live') problems.push(`run ${name} (${e.runId}) is a ${e.target} run, not evidence`);
    if (e.faults?.length) problems.push(`run ${name} (${e.runId}) had faults applied`);
    const gateCriteria = e.gate?.criteria ?? criteria;
    const red = gateCriteria.filter(
      (c) => !e.scenarios.some((s) => s.criteria.includes(c)) || e.scenarios.some((s) => s.criteria.includes(c) && s.status !== 'passed'),
    );
    if (red.length) problems.push(`run ${name} (${e.runId}) did not pass ${red.join(', ')}`);
    if (e.role === 'adversary' && e.coldness && !e.coldness.cold)
      problems.push(`run ${name} (${e.runId}) is an Adversary run that was not cold: ${e.coldness.reasons.join('; ')}`);
  }
  if (a.gate && b.gate && a.gate.id !== b.gate.id) problems.push(`the runs are of different gates (${a.gate.id}, ${b.gate.id})`);
  const apart = Math.abs(Date.parse(a.startedAt) - Date.parse(b.startedAt));
  if (!(apart <= VALID_FOR_MS)) problems.push(`the runs started ${Math.round(apart / 3_600_000)} h apart, more than 24 h`);
  const differing = stable.filter((r) => r.state !== 'equal');
  if (differing.length) problems.push(`${differing.length} stable fact(s) differ: ${differing.map((r) => r.key).join(', ')}`);
  return { criteria: criteria.map((c) => ({ criterion: c, a: statusOf(a, c), b: statusOf(b, c) })), stable, byNature, problems, ok: problems.length === 0 };
}

const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The comparison as text: the differences first, then the criteria, then the facts. */
export function comparisonText(c: Comparison, a: RunEvidence, b: RunEvidence, colour: boolean): string {
  const paint = (code: number, s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const state = (s: FactState) => (s === 'equal' ? paint(32, s) : paint(31, s));
  const lines = [
    `A: ${a.runId} (${a.target}, ${a.role ?? 'builder'}, ${a.startedAt})`,
    `B: ${b.runId} (${b.target}, ${b.role ?? 'builder'}, ${b.startedAt})`,
    '',
  ];
  lines.push(c.ok ? paint(32, 'the runs back each other') : paint(31, 'the runs do not back each other:'));
  for (const p of c.problems) lines.push(`  - ${p}`);
  const differing = c.stable.filter((r) => r.state !== 'equal');
  if (differing.length) {
    lines.push('', 'differences:');
    for (const r of differing) lines.push(`  ${r.key} (${state(r.state)})`, `    A: ${show(r.a)}`, `    B: ${show(r.b)}`);
  }
  lines.push('', 'criteria:');
  for (const r of c.criteria) lines.push(`  ${r.criterion.padEnd(4)} A: ${r.a.padEnd(24)} B: ${r.b}`);
  lines.push('', 'facts:');
  for (const r of c.stable.filter((x) => x.state === 'equal')) lines.push(`  ${r.key}: ${state(r.state)} ${show(r.a).slice(0, 120)}`);
  lines.push('', 'different by nature (not counted):');
  for (const r of c.byNature) lines.push(`  ${r.key}: A ${show(r.a).slice(0, 80)} | B ${show(r.b).slice(0, 80)}`);
  return lines.join('\n');
}
