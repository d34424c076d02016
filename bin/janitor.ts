import { HostPool } from '../src/drivers/pool';
import { labelsOf } from '../src/drivers/incus';
import { UsageError } from '../src/errors';
import { Recorder } from '../src/evidence/recorder';
import { Redactor } from '../src/evidence/redact';
import { loadProfile } from '../src/profile/load';
import { incusFor } from '../src/tasks/throwaway';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../lab/src/lab';

// npm run janitor -- [--profile NAME|PATH] [--dry-run] [--keep NAME]...
// Deletes expired instances that carry this harness's labels, in the profile's Incus project.
// It never touches an unlabelled instance, nor one the operator keeps.

const USAGE = `Usage: npm run janitor -- [--profile NAME|PATH] [--dry-run] [--keep NAME]...
Deletes expired throwaway VMs that carry this harness's labels (user.cc-ci-acceptance.*), in the
profile's Incus project. Unlabelled instances and kept ones (--keep, or labelled keep=operator)
are never touched. With the lab profile it first stops and removes the labs of runs that were
killed (never a live run's), then, with LAB_DIR naming a running lab, its expired instances.`;

async function main(argv: string[]): Promise<number> {
  let profileArg = 'lab';
  let dryRun = false;
  const keep: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--profile') profileArg = argv[++i] ?? '';
    else if (a === '--dry-run') dryRun = true;
    else if (a === '--keep') keep.push(argv[++i] ?? '');
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else throw new UsageError(`unknown option ${a}\n${USAGE}`);
  }
  const labDir = process.env.LAB_DIR ?? Lab.newDir('none');
  const { profile } = loadProfile(profileArg, { LAB_DIR: labDir });
  if (!profile.incus) throw new UsageError(`profile ${profile.name} has no incus section`);
  if (profile.target === 'lab') {
    // Labs of runs that were killed: their processes, mounts and directories.
    const reaped = await Lab.reapStale((l) => console.log(l), { dryRun });
    if (!reaped.length) console.log('lab: no lab of a dead run is left');
    if (!process.env.LAB_DIR) return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'janitor-'));
  const recorder = new Recorder(dir, dir, new Redactor(), (l) => process.stderr.write(l + '\n'));
  const pool = new HostPool(profile, recorder);
  try {
    const incus = incusFor(profile, pool);
    const now = Date.now();
    for (const i of await incus.list()) {
      const labels = labelsOf(i);
      if (!labels) {
        console.log(`skip   ${i.name}: not created by this harness`);
        continue;
      }
      if (keep.includes(i.name) || labels.keep === 'operator') {
        console.log(`keep   ${i.name}: kept by the operator`);
        continue;
      }
      const expires = Date.parse(labels.expires);
      if (!(expires <= now)) {
        console.log(`keep   ${i.name}: expires ${labels.expires}`);
        continue;
      }
      if (dryRun) {
        console.log(`would delete ${i.name} (run ${labels.run}, expired ${labels.expires})`);
        continue;
      }
      await incus.delete(i.name);
      console.log(`delete ${i.name} (run ${labels.run}, expired ${labels.expires})`);
    }
  } finally {
    await pool.closeAll();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
