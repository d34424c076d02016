import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { writeFileAtomic } from './atomic';
import { join } from 'node:path';
import { FAILED_ERROR_NAMES } from '../errors';
import type { Fact } from './recorder';
import type { Redactor } from './redact';
import { codeSpan, showValue } from './show';
export { codeSpan, showValue } from './show';
import type { Coldness } from '../gate/coldness';
import type { GateVerdict } from '../gate/verdict';

// After a run: evidence.json and summary.md from cucumber's messages and the recorder's files.

export type ScenarioStatus = 'passed' | 'failed' | 'broken' | 'skipped' | 'undefined' | 'pending';

export interface ScenarioEvidence {
  id: string;
  name: string;
  feature: string;
  uri: string;
  tags: string[];
  criteria: string[];
  status: ScenarioStatus;
  message?: string;
  failedStep?: string;
  durationMs: number;
  /** measuredFor: the scenario the fact was measured for, when it was measured once for an earlier one. */
  facts: Record<string, { value: unknown; host?: string; measuredFor?: string }>;
  commands: string[];
}

export interface AppliedFault {
  name: string;
  kind: 'fault' | 'script';
  summary?: string;
  criteria?: string[];
  red?: string[];
  broken?: string[];
  exitCode?: number;
  output?: string;
  appliedAt: string;
}

export interface RunMeta {
  runId: string;
  profile: { name: string; source: string; path: string };
  target: 'lab' | 'live';
  harness: { commit: string; dirty: boolean };
  argv: string[];
  startedAt: string;
  finishedAt: string;
  faults: AppliedFault[];
  lab?: Record<string, unknown>;
  /** Set when a signal stopped the run: what was running then. */
  interrupted?: Interruption;
}

export interface Interruption {
  signal: string;
  at: string;
  /** The stage or the scenario and step that was running. */
  during: string;
  /** The scenario that was running, if any: it is broken, and those not yet run are skipped. */
  scenarioId?: string;
}

export interface RunEvidence extends RunMeta {
  /** The gate's verdict, when the run was a gate run. */
  gate?: GateVerdict;
  /** How cold the run was (fresh clone, lockfile, throwaway made by it, a build that built). */
  coldness?: Coldness;
  role?: 'builder' | 'adversary';
  totals: Record<ScenarioStatus, number>;
  scenarios: ScenarioEvidence[];
  runFacts: Fact[];
  connections: unknown[];
  files: Record<string, string>;
}

interface Envelope {
  gherkinDocument?: { uri: string; feature?: { name: string } };
  pickle?: { id: string; uri: string; name: string; tags: { name: string }[]; steps: { id: string; text: string }[] };
  testCase?: { id: string; pickleId: string; testSteps: { id: string; pickleStepId?: string; hookId?: string }[] };
  testCaseStarted?: { id: string; testCaseId: string; attempt: number };
  testCaseFinished?: { testCaseStartedId: string };
  testStepFinished?: {
    testCaseStartedId: string;
    testStepId: string;
    testStepResult: { status: string; message?: string; exception?: { type: string; message?: string }; duration: { seconds: number; nanos: number } };
  };
}

function readNdjson<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  // A stream cut by an interrupt may end in half a line: what is whole is read, the rest dropped.
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as T];
      } catch {
        return [];
      }
    });
}

/** Scenario results from cucumber's message stream, sorted into failed and broken. */
export function scenarioResults(messagesFile: string, interrupted?: Interruption): Omit<ScenarioEvidence, 'facts' | 'commands'>[] {
  const envelopes = readNdjson<Envelope>(messagesFile);
  const features = new Map<string, string>();
  const pickles = new Map<string, NonNullable<Envelope['pickle']>>();
  const testCases = new Map<string, NonNullable<Envelope['testCase']>>();
  const started = new Map<string, string>();
  const steps = new Map<string, NonNullable<Envelope['testStepFinished']>[]>();
  for (const e of envelopes) {
    if (e.gherkinDocument) features.set(e.gherkinDocument.uri, e.gherkinDocument.feature?.name ?? '');
    if (e.pickle) pickles.set(e.pickle.id, e.pickle);
    if (e.testCase) testCases.set(e.testCase.id, e.testCase);
    if (e.testCaseStarted) started.set(e.testCaseStarted.id, e.testCaseStarted.testCaseId);
    if (e.testStepFinished) {
      const tc = started.get(e.testStepFinished.testCaseStartedId)!;
      steps.set(tc, [...(steps.get(tc) ?? []), e.testStepFinished]);
    }
  }
  const results: Omit<ScenarioEvidence, 'facts' | 'commands'>[] = [];
  for (const tc of testCases.values()) {
    const pickle = pickles.get(tc.pickleId)!;
    const finished = steps.get(tc.id) ?? [];
    const stepText = (testStepId: string) => {
      const ts = tc.testSteps.find((s) => s.id === testStepId);
      if (!ts?.pickleStepId) return 'a hook';
      return pickle.steps.find((s) => s.id === ts.pickleStepId)?.text ?? '?';
    };
    const has = (st: string) => finished.find((f) => f.testStepResult.status === st);
    const red = finished.find((f) => f.testStepResult.status === 'FAILED' || f.testStepResult.status === 'AMBIGUOUS');
    const incomplete = has('UNDEFINED') ?? has('PENDING');
    let status: ScenarioStatus;
    let message: string | undefined;
    let failedStep: string | undefined;
    if (interrupted && interrupted.scenarioId === pickle.id) {
      status = 'broken';
      message = `interrupted by ${interrupted.signal} at ${interrupted.at} during ${interrupted.during}: the claim was not checked to the end`;
      failedStep = /step "(.*)"$/.exec(interrupted.during)?.[1] ?? 'a hook';
    } else if (red) {
      const r = red.testStepResult;
      status = r.exception && FAILED_ERROR_NAMES.test(r.exception.type) ? 'failed' : 'broken';
      message = r.exception?.message ?? r.message;
      failedStep = stepText(red.testStepId);
    } else if (incomplete) {
      status = incomplete.testStepResult.status === 'UNDEFINED' ? 'undefined' : 'pending';
      failedStep = stepText(incomplete.testStepId);
    } else {
      status = finished.length && finished.every((f) => f.testStepResult.status === 'PASSED') ? 'passed' : 'skipped';
    }
    const durationMs = finished.reduce((n, f) => n + f.testStepResult.duration.seconds * 1000 + f.testStepResult.duration.nanos / 1e6, 0);
    const tags = pickle.tags.map((t) => t.name);
    results.push({
      id: pickle.id,
      name: pickle.name,
      feature: features.get(pickle.uri) ?? '',
      uri: pickle.uri,
      tags,
      criteria: tags.filter((t) => /^@(C\d+|e2e)$/i.test(t)).map((t) => t.slice(1)),
      status,
      message,
      failedStep,
      durationMs: Math.round(durationMs),
    });
  }
  return results;
}

export function writeEvidence(runDir: string, meta: RunMeta, judge?: (e: RunEvidence) => Pick<RunEvidence, 'gate' | 'coldness' | 'role'>): RunEvidence {
  const facts = readNdjson<Fact>(join(runDir, 'evidence', 'facts.ndjson'));
  const commands = readNdjson<{ scenario?: string; file: string }>(join(runDir, 'evidence', 'commands.ndjson'));
  const scenarios: ScenarioEvidence[] = scenarioResults(join(runDir, 'messages.ndjson'), meta.interrupted).map((s) => ({
    ...s,
    facts: Object.fromEntries(
      facts.filter((f) => f.scenario === s.id).map((f) => [f.key, { value: f.value, host: f.host, ...(f.measuredFor ? { measuredFor: f.measuredFor } : {}) }]),
    ),
    commands: commands.filter((c) => c.scenario === s.id).map((c) => c.file),
  }));
  const totals = { passed: 0, failed: 0, broken: 0, skipped: 0, undefined: 0, pending: 0 } as Record<ScenarioStatus, number>;
  for (const s of scenarios) totals[s.status]++;
  const evidence: RunEvidence = {
    ...meta,
    totals,
    scenarios,
    runFacts: facts.filter((f) => !f.scenario),
    connections: readNdjson(join(runDir, 'evidence', 'connections.ndjson')),
    files: {
      summary: 'summary.md',
      junit: 'junit.xml',
      messages: 'messages.ndjson',
      allureResults: 'allure-results/',
      allureReport: 'allure-report/index.html',
      commands: 'commands/',
    },
  };
  if (judge) Object.assign(evidence, judge(evidence));
  writeFileAtomic(join(runDir, 'evidence.json'), JSON.stringify(evidence, null, 2) + '\n');
  writeFileAtomic(join(runDir, 'summary.md'), summaryMarkdown(evidence));
  return evidence;
}

const ICON: Record<ScenarioStatus, string> = { passed: '✅', failed: '❌', broken: '💥', skipped: '⏭', undefined: '❔', pending: '⏸' };

export function summaryMarkdown(e: RunEvidence): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
  const lines = [
    `# Acceptance run ${e.runId}`,
    '',
    ...(e.interrupted
      ? [`**INTERRUPTED** by ${e.interrupted.signal} at ${e.interrupted.at} during ${e.interrupted.during}: this run proves nothing it did not finish.`, '']
      : []),
    ...(e.gate ? [`**${e.gate.line}**${e.gate.lab ? '' : `: counts until ${e.gate.validUntil} (start + 24 h)`}`, ''] : []),
    `- Profile: **${e.profile.name}** (${e.target}) from \`${e.profile.source}\``,
    `- Harness: \`${e.harness.commit}\`${e.harness.dirty ? ' (working tree dirty)' : ''}`,
    `- Started ${e.startedAt}, finished ${e.finishedAt}`,
    `- Faults: ${e.faults.length ? e.faults.map((f) => `\`${f.name}\``).join(', ') : 'none'}`,
    ...(e.coldness ? [`- Coldness${e.role ? ` (${e.role})` : ''}: ${e.coldness.line}`] : []),
    `- Result: ${
      Object.entries(e.totals)
        .filter(([, n]) => n)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ') || 'no scenarios'
    }`,
    '',
    '| Criterion | Scenario | Status | Key facts |',
    '| --- | --- | --- | --- |',
    ...e.scenarios.map((s) => {
      const facts = Object.entries(s.facts)
        .map(([k, f]) => `${k} = ${codeSpan(showValue(f.value))}`)
        .join('<br>');
      return `| ${s.criteria.join(', ') || '-'} | ${cell(s.name)} | ${ICON[s.status]} ${s.status} | ${cell(facts)} |`;
    }),
  ];
  const red = e.scenarios.filter((s) => s.message || s.status === 'undefined' || s.status === 'pending');
  if (red.length) {
    lines.push('', '## Not green', '');
    for (const s of red) {
      lines.push(`### ${s.status}: ${s.name}`, '', `Step: ${s.failedStep ?? '?'}`, '', '```', (s.message ?? s.status).trim(), '```', '');
    }
  }
  lines.push('', 'Details: `evidence.json`, `allure-report/index.html`, `junit.xml`, `messages.ndjson`, `commands/`.', '');
  return lines.join('\n');
}

/** A last pass over every text file of the run: any known secret still there is replaced. */
export function scrubRunDir(dir: string, redactor: Redactor): string[] {
  const changed: string[] = [];
  if (redactor.size === 0) return changed;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.size < 50_000_000) {
        const text = readFileSync(p, 'utf8');
        const clean = redactor.redact(text);
        if (clean !== text) {
          writeFileAtomic(p, clean);
          changed.push(p);
        }
      }
    }
  };
  walk(dir);
  return changed;
}
