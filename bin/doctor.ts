import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { doctorTable, runDoctor } from '../src/cli/doctor';
import { cucumberConfiguration, plannedScenarios } from '../src/cli/plan';
import { UsageError } from '../src/errors';
import { Recorder } from '../src/evidence/recorder';
import { Redactor } from '../src/evidence/redact';
import { loadProfile } from '../src/profile/load';

// npm run doctor -- [--profile NAME|PATH] [--tags EXPR | --name TEXT]...
// Read-only: checks what the selected scenarios need (hosts and their keys, tools, credentials,
// tokens, names) and prints a table; exit 0 when everything is there, 1 when not, 2 on bad input.

const USAGE = `Usage: npm run doctor -- [--profile NAME|PATH] [--tags EXPR] [--name TEXT]
Checks, without changing anything, what the selected scenarios need: each host reachable with
its host key verified, every command the checks run, every credential and reference readable
(never shown), the Gitea and Drone tokens, and where the public names resolve. Prints a table
(check, host, result, what to do); exit 0 when all is there, 1 when something is missing.
With the lab profile, LAB_DIR must name the running lab's directory.`;

async function main(argv: string[]): Promise<number> {
  let profileArg = 'lab';
  const cucumber: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (a === '--profile') profileArg = argv[++i] ?? '';
    else if (a.startsWith('--profile=')) profileArg = a.slice('--profile='.length);
    else if (a === '--tags' || a === '--name') cucumber.push(a, argv[++i] ?? '');
    else if (a.startsWith('--tags=') || a.startsWith('--name=')) cucumber.push(a);
    else throw new UsageError(`unknown argument: ${a}\n${USAGE}`);
  }
  if (!profileArg) throw new UsageError('--profile needs a value');
  const { profile } = loadProfile(profileArg, { LAB_DIR: process.env.LAB_DIR ?? '' });
  if (profile.target === 'lab' && !process.env.LAB_DIR)
    throw new UsageError('with the lab profile, the doctor needs LAB_DIR: the directory of the running lab (.lab/<run-id>)');
  const planned = await plannedScenarios(await cucumberConfiguration(cucumber));
  if (planned.length === 0) throw new UsageError('no scenario matches the selection');
  const dir = mkdtempSync(join(tmpdir(), 'cc-ci-doctor-'));
  try {
    const rows = await runDoctor(profile, planned, new Recorder(dir, dir, new Redactor(), () => {}));
    process.stdout.write(`doctor: profile ${profile.name} (${profile.target}), ${planned.length} scenario(s)\n\n${doctorTable(rows)}\n\n`);
    const bad = rows.filter((r) => !r.ok).length;
    process.stdout.write(bad ? `doctor: ${bad} of ${rows.length} checks failed\n` : `doctor: all ${rows.length} checks passed\n`);
    return bad ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
