import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { doctorTable, tagsOfGate, runDoctor } from '../src/cli/doctor';
import { cucumberConfiguration, plannedScenarios } from '../src/cli/plan';
import { UsageError } from '../src/errors';
import { Recorder } from '../src/evidence/recorder';
import { Redactor } from '../src/evidence/redact';
import { loadProfile } from '../src/profile/load';

// npm run doctor -- [--profile NAME|PATH] [--gate ID | --tags EXPR | --name TEXT]...
// Read-only: checks what the selected scenarios need (hosts and their keys, tools, credentials,
// tokens, names) and prints a table; exit 0 when everything is there, 1 when not, 2 on bad input.

const USAGE = `Usage: npm run doctor -- [--profile NAME|PATH] [--gate ID | --tags EXPR | --name TEXT]
Checks, without changing anything, what the selected scenarios need: each host reachable with
its host key verified, every command the checks run, every credential and reference readable
(never shown), the Gitea and Drone tokens, and where the public names resolve. Prints a table
(check, host, result, what to do); exit 0 when all is there, 1 when something is missing.
--gate ID selects a gate's criteria (the profile's gates:), as npm run acceptance -- --gate does.
With the lab profile, LAB_DIR must name the running lab's directory.`;

async function main(argv: string[]): Promise<number> {
  let profileArg = 'lab';
  let gate: string | undefined;
  const cucumber: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (a === '--profile') profileArg = argv[++i] ?? '';
    else if (a.startsWith('--profile=')) profileArg = a.slice('--profile='.length);
    else if (a === '--gate') gate = argv[++i] ?? '';
    else if (a.startsWith('--gate=')) gate = a.slice('--gate='.length);
    else if (a === '--tags' || a === '--name') cucumber.push(a, argv[++i] ?? '');
    else if (a.startsWith('--tags=') || a.startsWith('--name=')) cucumber.push(a);
    else throw new UsageError(`unknown argument: ${a}\n${USAGE}`);
  }
  if (!profileArg) throw new UsageError('--profile needs a value');
  if (gate === '') throw new UsageError('--gate needs a value: a gate of the profile (gates:)');
  // A gate selects its criteria itself, as in npm run acceptance: a narrower selection would check less than the gate runs.
  if (gate !== undefined && cucumber.length)
    throw new UsageError(
      `--gate ${gate} selects every scenario of its criteria; it cannot be combined with ${cucumber.filter((a) => a.startsWith('--')).join(' ')}`,
    );
  const { profile } = loadProfile(profileArg, { LAB_DIR: process.env.LAB_DIR ?? '' });
  if (gate !== undefined) cucumber.push('--tags', tagsOfGate(profile, gate));
  if (profile.target === 'lab' && !process.env.LAB_DIR)
    throw new UsageError('with the lab profile, the doctor needs LAB_DIR: the directory of the running lab (.lab/<run-id>)');
  const planned = await plannedScenarios(await cucumberConfiguration(cucumber));
  if (planned.length === 0) throw new UsageError('no scenario matches the selection');
  const selection = gate !== undefined ? `gate ${gate} (${profile.gates[gate]!.join(', ')}), ` : '';
  const dir = mkdtempSync(join(tmpdir(), 'cc-ci-doctor-'));
  try {
    const rows = await runDoctor(profile, planned, new Recorder(dir, dir, new Redactor(), () => {}));
    process.stdout.write(`doctor: profile ${profile.name} (${profile.target}), ${selection}${planned.length} scenario(s)\n\n${doctorTable(rows)}\n\n`);
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
