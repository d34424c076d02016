import { isDeepStrictEqual } from 'node:util';
import type { RunEvidence } from '../evidence/report';
import { VALID_FOR_MS } from './verdict';

// A claim and its rerun, side by side: per criterion both statuses, per fact both values. Only
// what differs between two runs by nature is set aside: the times, durations, run ids, the
// throwaway's name, the e2e app's id and build numbers. A fact that holds nothing else is listed
// apart and never counted; in every other fact those fields are taken out and the rest counted.
// Every other difference is a finding.

export type FactState = 'equal' | 'different' | 'only in A' | 'only in B';

export interface FactRow {
  key: string;
  a?: unknown;
  b?: unknown;
  state: FactState;
  /** Fields of this fact set aside before comparing, and why (beyond times and durations, always set aside). */
  setAside?: string;
}

export interface Comparison {
  criteria: { criterion: string; a: string; b: string }[];
  stable: FactRow[];
  byNature: FactRow[];
  /** Why the two runs do not back each other: empty when they do. */
  problems: string[];
  ok: boolean;
}

/** Facts that hold only what is new in every run: listed apart, never counted. */
export const BY_NATURE: { key: RegExp; why: string }[] = [
  { key: /^wait\./, why: 'how long a wait took and how often it looked' },
  { key: /^throwaway\./, why: "the throwaway's name and when it was made, deleted or kept" },
  { key: /^run\./, why: "the run's own counters: connections, CPU time" },
  { key: /^warning$/, why: 'a warning that counts the days left' },
  {
    key: /^build\.derivationsBuilt$/,
    why: 'what the build host had to build depends on what its store held before (the toplevel itself is counted: build.toplevel)',
  },
];

/** Inside a counted fact, the fields that vary by nature, by fact. */
export const VOLATILE_IN: { key: RegExp; fields: string[]; why: string; map?: (v: Record<string, unknown>) => Record<string, unknown> }[] = [
  { key: /^cert\.validity$/, fields: ['daysLeft'], why: 'counts down every day (notBefore and notAfter are counted)' },
  { key: /^scan$/, fields: ['coverage'], why: 'how many files, bytes and objects were searched grows with every build and fetch' },
  {
    key: /^c4\.generations$/,
    fields: ['before', 'after'],
    why: "the image's own generation changes with every image build (the generation added and the running system are counted)",
  },
  {
    key: /^c4\.incusProvisioning$/,
    fields: ['configKeys volatile.*'],
    why: "Incus's own volatile.* state keys",
    map: (v) => (Array.isArray(v.configKeys) ? { ...v, configKeys: v.configKeys.filter((k) => !String(k).startsWith('volatile.')) } : v),
  },
  { key: /^c6\.throwaway$/, fields: ['runningBytes'], why: "the memory a fresh image's kernel reports (the configured limit is counted)" },
  { key: /^e2e\.build$/, fields: ['number'], why: 'the build number' },
  { key: /^e2e\.comment$/, fields: ['id', 'url', 'lastBuildBefore'], why: "the comment's id and the build number before it" },
  { key: /^e2e\.reported$/, fields: ['comment'], why: "the result comment's URL (its id)" },
  { key: /^e2e\.finished$/, fields: ['number'], why: 'the build number' },
  { key: /^e2e\.bridgeAlive$/, fields: ['build'], why: 'the build number' },
  {
    key: /^e2e\.afterwards$/,
    fields: ['answer'],
    why: 'which error an undeployed app answers with depends on how far the undeploy got (that it is not 200 is the claim)',
  },
  { key: /^e2e\.deployedHead$/, fields: ['servicesRead'], why: 'whether the services were read with the answer or before it is a race' },
];

/** Inside every fact, fields that vary by nature (times, durations, counts of polls). */
const VOLATILE_FIELDS = /^(at|.*At|.*Ms|.*Seconds|seconds|durationMs|polls|history)$/;

/** The strings of a run that are new in every run, and what stands for each: its id, its throwaway, its e2e app and build page. */
export function runTokens(e: RunEvidence, facts = factsOf(e)): [string, string][] {
  const tokens: [string, string][] = [[e.runId, '<run-id>']];
  const throwaway = (facts.get('throwaway.created') as { name?: string } | undefined)?.name;
  if (throwaway) tokens.push([throwaway, '<throwaway>']);
  const url = facts.get('e2e.url');
  if (typeof url === 'string') {
    try {
      const app = new URL(url).hostname.split('.')[0]!;
      // The app's name is the recipe's first letters and a per-run id: the letters are counted.
      if (app) tokens.push([app, /-[0-9a-f]{6}$/.test(app) ? `${app.slice(0, -7)}-<e2e-id>` : '<e2e-app>']);
    } catch {}
  }
  const page = (facts.get('e2e.build') as { page?: string } | undefined)?.page;
  if (page) tokens.push([page, '<build-page>']);
  return tokens.filter(([t]) => t.length >= 4).sort((x, y) => y[0].length - x[0].length);
}

const substitute = (s: string, tokens: [string, string][]) => tokens.reduce((acc, [t, r]) => acc.split(t).join(r), s);

/** A value with what varies by nature taken out: volatile fields, and the run's own tokens (its id in work paths, its throwaway, …). */
export function stripVolatile(v: unknown, tokens: [string, string][] | string): unknown {
  const t: [string, string][] = typeof tokens === 'string' ? [[tokens, '<run-id>']] : tokens;
  if (typeof v === 'string') return substitute(v, t);
  if (Array.isArray(v)) return v.map((x) => stripVolatile(x, t));
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE_FIELDS.test(k))
        .map(([k, x]) => [k, stripVolatile(x, t)]),
    );
  return v;
}

/** A counted fact's value as compared: its fact's volatile fields out, then the volatile fields and tokens of every fact. */
function comparable(key: string, v: unknown, tokens: [string, string][]): unknown {
  const rule = VOLATILE_IN.find((r) => r.key.test(key));
  let x = v;
  if (rule && x && typeof x === 'object' && !Array.isArray(x)) {
    const o = rule.map ? rule.map(x as Record<string, unknown>) : (x as Record<string, unknown>);
    x = Object.fromEntries(Object.entries(o).filter(([k]) => !rule.fields.includes(k)));
  }
  return stripVolatile(x, tokens);
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
  const rawA = factsOf(a);
  const rawB = factsOf(b);
  const ta = runTokens(a, rawA);
  const tb = runTokens(b, rawB);
  // Keys named after what is new in every run (a throwaway's secrets) are compared under the name's stand-in.
  const byKey = (raw: Map<string, unknown>, tokens: [string, string][]) => new Map([...raw].map(([k, v]) => [substitute(k, tokens), v]));
  const fa = byKey(rawA, ta);
  const fb = byKey(rawB, tb);
  const stable: FactRow[] = [];
  const byNature: FactRow[] = [];
  for (const key of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
    const inA = fa.has(key);
    const inB = fb.has(key);
    const natural = BY_NATURE.some((r) => r.key.test(key));
    const rule = VOLATILE_IN.find((r) => r.key.test(key));
    const row: FactRow = {
      key,
      a: fa.get(key),
      b: fb.get(key),
      state: !inA
        ? 'only in B'
        : !inB
          ? 'only in A'
          : isDeepStrictEqual(comparable(key, fa.get(key), ta), comparable(key, fb.get(key), tb))
            ? 'equal'
            : 'different',
      ...(rule && !natural ? { setAside: `${rule.fields.join(', ')}: ${rule.why}` } : {}),
    };
    (natural ? byNature : stable).push(row);
  }
  const problems: string[] = [];
  for (const [name, e] of [
    ['A', a],
    ['B', b],
  ] as const) {
    if (e.target !== 'live') problems.push(`run ${name} (${e.runId}) is a ${e.target} run, not evidence`);
    if (e.faults?.length) problems.push(`run ${name} (${e.runId}) had faults applied`);
    if (e.interrupted) problems.push(`run ${name} (${e.runId}) was interrupted by ${e.interrupted.signal} during ${e.interrupted.during}`);
    const gateCriteria = e.gate?.criteria ?? criteria;
    const red = gateCriteria.filter(
      (c) => !e.scenarios.some((s) => s.criteria.includes(c)) || e.scenarios.some((s) => s.criteria.includes(c) && s.status !== 'passed'),
    );
    if (red.length) problems.push(`run ${name} (${e.runId}) did not pass ${red.join(', ')}`);
    // The verdict knows more than the statuses: a gate run that left out scenarios of its gate.
    else if (e.gate && !e.gate.pass) problems.push(`run ${name} (${e.runId}) did not pass its gate: ${e.gate.line}`);
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

/** Colour on a terminal only, and never with NO_COLOR or FORCE_COLOR=0. */
export function colourWanted(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR === '0' || env.FORCE_COLOR === 'false') return false;
  return !!isTTY;
}

/** The comparison for machines (--json). */
export function comparisonJson(c: Comparison, a: RunEvidence, b: RunEvidence): { a: string; b: string } & Comparison {
  return { a: a.runId, b: b.runId, ...c };
}

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
    for (const r of differing)
      lines.push(`  ${r.key} (${state(r.state)})`, `    A: ${show(r.a)}`, `    B: ${show(r.b)}`, ...(r.setAside ? [`    set aside: ${r.setAside}`] : []));
  }
  lines.push('', 'criteria:');
  for (const r of c.criteria) lines.push(`  ${r.criterion.padEnd(4)} A: ${r.a.padEnd(24)} B: ${r.b}`);
  lines.push('', 'facts:');
  for (const r of c.stable.filter((x) => x.state === 'equal'))
    lines.push(`  ${r.key}: ${state(r.state)} ${show(r.a).slice(0, 120)}${r.setAside ? ` (set aside: ${r.setAside.split(':')[0]})` : ''}`);
  lines.push('', 'different by nature (not counted):');
  for (const r of c.byNature) lines.push(`  ${r.key}: A ${show(r.a).slice(0, 80)} | B ${show(r.b).slice(0, 80)}`);
  return lines.join('\n');
}
