import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvidence } from '../src/evidence/report';
import { PROJECT_ROOT, REPORTS_DIR } from '../src/paths';

export interface AcceptanceRun {
  exitCode: number;
  output: string;
  runId?: string;
  evidence?: RunEvidence;
}

/** Runs `npm run acceptance -- ARGS` the way a user does (minus the npm wrapper). */
export async function acceptance(args: string[], env: Record<string, string> = {}): Promise<AcceptanceRun> {
  const r = await execa(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '-r', 'ts-node/register/transpile-only', join(PROJECT_ROOT, 'bin', 'acceptance.ts'), ...args],
    { cwd: PROJECT_ROOT, reject: false, all: true, env: { ...env, FORCE_COLOR: '0' } },
  );
  const output = String(r.all ?? '');
  const runId = /^run (\d{8}-\d{6}-[0-9a-f]{4}):/m.exec(output)?.[1];
  let evidence: RunEvidence | undefined;
  if (runId) {
    try {
      evidence = JSON.parse(readFileSync(join(REPORTS_DIR, runId, 'evidence.json'), 'utf8')) as RunEvidence;
    } catch {
      /* the run stopped before writing evidence */
    }
  }
  return { exitCode: r.exitCode ?? -1, output, runId, evidence };
}

export function statusByTag(e: RunEvidence): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of e.scenarios) for (const t of s.tags) if (/^@(c\d+|e2e)-/.test(t)) m.set(t, s.status);
  return m;
}
