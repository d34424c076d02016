import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../src/errors';
import type { RunEvidence } from '../src/evidence/report';
import { colourWanted, compareRuns, comparisonJson, comparisonText } from '../src/gate/compare';
import { REPORTS_DIR } from '../src/paths';

// npm run compare -- RUN-A RUN-B [--json]: a claim and its rerun, side by side.

const USAGE = `Usage: npm run compare -- RUN-A RUN-B [--json] [--reports DIR]
RUN is a run id (in reports/), a report folder, or an evidence.json. Prints, per criterion, both
statuses, and per fact, both values. What differs between runs by nature (times, durations, run
ids, the throwaway's name, the e2e app's id, build numbers) is set aside: a fact holding nothing
else is listed apart, from any other fact those fields are taken out and the rest compared. Exit 0
when both runs are live, both passed every criterion of the gate, every other fact is equal and
they started within 24 h of each other; 1 otherwise, differences first. Colour on a terminal
only (never with NO_COLOR or FORCE_COLOR=0).`;

function load(arg: string, reports: string): RunEvidence {
  const candidates = [arg, join(arg, 'evidence.json'), join(reports, arg, 'evidence.json')].map((p) => resolve(p));
  const file = candidates.find((p) => existsSync(p) && statSync(p).isFile());
  if (!file) throw new UsageError(`${arg}: no such run (looked for ${candidates.join(', ')})`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunEvidence;
  } catch (e) {
    throw new UsageError(`${file}: not an evidence.json (${(e as Error).message})`);
  }
}

function main(argv: string[]): number {
  let json = false;
  let reports = REPORTS_DIR;
  const runs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (a === '--json') json = true;
    else if (a === '--reports') reports = resolve(argv[++i] ?? '');
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}\n${USAGE}`);
    else runs.push(a);
  }
  if (runs.length !== 2) throw new UsageError(`expected two runs, got ${runs.length}\n${USAGE}`);
  const [a, b] = [load(runs[0]!, reports), load(runs[1]!, reports)];
  const c = compareRuns(a, b);
  process.stdout.write(
    json ? JSON.stringify(comparisonJson(c, a, b), null, 2) + '\n' : comparisonText(c, a, b, colourWanted(process.stdout.isTTY, process.env)) + '\n',
  );
  return c.ok ? 0 : 1;
}

try {
  process.exit(main(process.argv.slice(2)));
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
