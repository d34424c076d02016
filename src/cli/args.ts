import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors';

export interface AcceptanceArgs {
  profile: string;
  faults: string[];
  faultScripts: string[];
  listFaults: boolean;
  help: boolean;
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
  -h, --help            this help
cucumber-js options pass through, e.g. --tags "@C1", --name "byte for byte", --dry-run.

Exit codes: 0 every selected scenario passed; 1 any failed, broke, or was undefined or
pending; 2 a usage or profile error (nothing was contacted).`;

function takeValue(argv: string[], i: number, flag: string): string {
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return v;
}

export function parseArgs(argv: string[]): AcceptanceArgs {
  const args: AcceptanceArgs = { profile: 'lab', faults: [], faultScripts: [], listFaults: false, help: false, cucumber: [] };
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
