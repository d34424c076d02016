import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors';
import { REPORTS_DIR } from '../paths';

export interface AcceptanceArgs {
  profile: string;
  faults: string[];
  faultScripts: string[];
  listFaults: boolean;
  help: boolean;
  /** Lets @mutating scenarios run against a live profile. */
  allowMutations: boolean;
  /** When to delete a throwaway VM after its scenario: passing (default), always, never. */
  destroy: 'passing' | 'always' | 'never';
  /** Instances the operator keeps: never deleted, not counted as leftovers. */
  keep: string[];
  /** Where run folders go: reports/ under the project unless given. */
  reportsDir: string;
  /** A gate of the profile: runs exactly its criteria and ends with its verdict. */
  gate?: string;
  /** Who runs it, for the claim: the Builder claims, the Adversary reruns cold. */
  role: 'builder' | 'adversary';
  /** Everything else goes to cucumber-js (--tags, --name, --dry-run, ...). */
  cucumber: string[];
}

export const USAGE = `Usage: npm run acceptance -- [options] [cucumber-js options]

Runs the acceptance features against a profile (default: the lab, started and stopped for the
run) and writes the evidence to reports/<run-id>/ (reports/latest points at it).

Options:
  --profile NAME|PATH   a built-in profile (lab, cc-ci) or a YAML file; default: lab
  --fault NAME          apply a lab fault before the run (repeatable; see --list-faults)
  --fault-script PATH   run an executable against the lab once it is up (repeatable); it gets
                        LAB_DIR and a lab-exec HOST CMD... helper on its PATH
  --list-faults         list the lab faults and the criteria each must turn red
  --allow-mutations     let @mutating scenarios (a throwaway VM, a !testme) run against a live profile
  --destroy WHEN        delete the throwaway VM after its scenario: passing (default: a failed one
                        is kept for debugging, its name and expiry printed), always, never
  --keep NAME           an instance the operator keeps: never deleted, not a leftover (repeatable)
  --reports DIR         write run folders to DIR instead of reports/ (DIR/latest points at the run)
  --gate ID             run exactly the criteria of a gate of the profile (W2, W4, W5, W6, E2E)
                        and end with its verdict; a live gate run writes claim.md
  --role ROLE           builder (default) or adversary: who the claim file says ran it
  -h, --help            this help
cucumber-js options pass through, e.g. --tags "@C1", --name "byte for byte", --dry-run.

Exit codes: 0 every selected scenario passed; 1 any failed, broke, or was undefined or
pending; 2 a usage or profile error (nothing was contacted).

Janitor: npm run janitor -- [--profile NAME|PATH] [--dry-run] deletes expired throwaway VMs
that carry this harness's labels, and nothing else.`;

function takeValue(argv: string[], i: number, flag: string): string {
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return v;
}

export function parseArgs(argv: string[]): AcceptanceArgs {
  const args: AcceptanceArgs = {
    profile: 'lab',
    faults: [],
    faultScripts: [],
    listFaults: false,
    help: false,
    allowMutations: false,
    destroy: 'passing',
    keep: [],
    reportsDir: REPORTS_DIR,
    role: 'builder',
    cucumber: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => (inline !== undefined ? inline : takeValue(argv, i++, flag));
    switch (flag) {
      case '--profile':
        args.profile = value();
        break;
      case '--fault':
        args.faults.push(value());
        break;
      case '--fault-script':
        args.faultScripts.push(checkExecutable(value()));
        break;
      case '--list-faults':
        args.listFaults = true;
        break;
      case '--allow-mutations':
        args.allowMutations = true;
        break;
      case '--destroy': {
        const v = value();
        if (v !== 'passing' && v !== 'always' && v !== 'never') throw new UsageError(`--destroy: expected passing, always or never, got ${v}`);
        args.destroy = v;
        break;
      }
      case '--keep': {
        const v = value();
        if (!/^[a-z0-9][a-z0-9-]*$/.test(v)) throw new UsageError(`--keep: ${v} is not an instance name`);
        args.keep.push(v);
        break;
      }
      case '--reports':
        args.reportsDir = resolve(value());
        break;
      case '--gate':
        args.gate = value();
        break;
      case '--role': {
        const v = value();
        if (v !== 'builder' && v !== 'adversary') throw new UsageError(`--role: expected builder or adversary, got ${v}`);
        args.role = v;
        break;
      }
      case '-h':
      case '--help':
        args.help = true;
        break;
      default:
        args.cucumber.push(a);
    }
  }
  return args;
}

function checkExecutable(path: string): string {
  const p = resolve(path);
  try {
    if (!statSync(p).isFile()) throw new Error();
    accessSync(p, constants.X_OK);
  } catch {
    throw new UsageError(`--fault-script: ${path} is not an executable file`);
  }
  return p;
}
