import { HostBrokenError } from '../errors';
import { type CommandResult, type Host, lastLines } from './host';

// systemd on a host, read with systemctl (../shared/reference/systemd-systemctl.md, v255). What
// systemctl prints is believed only when it is an answer: a state word with its exit code, a
// unit list with exit 0. Anything else (no bus, an error on stderr) means the harness could not
// look: broken, never "not running" or "no failed unit".

/**
 * The words `systemctl is-system-running` prints: the manager's states (src/core/manager.c) and
 * `offline`, which systemctl says itself when systemd is not PID 1. `unknown` is not among them:
 * systemctl prints it when it reached the bus but could not read SystemState, so nobody knows.
 */
export const SYSTEM_STATES: readonly string[] = ['initializing', 'starting', 'running', 'degraded', 'maintenance', 'stopping', 'offline'];

/** Why an `is-system-running` answer is not a state (undefined when it is one): exit 0 for running, 1 for every other word. */
export function systemStateProblem(r: { stdout: string; stderr: string; exitCode: number | null; signal?: string | null }): string | undefined {
  const word = r.stdout.trim();
  const said = r.stderr.trim() ? `: ${lastLines(r.stderr, 2)}` : '';
  if (r.exitCode === null) return `systemctl ended by ${r.signal ?? 'a signal'} before it said a state${said}`;
  if (!word) return `systemctl printed no state (exit ${r.exitCode})${said}`;
  if (word === 'unknown') return `systemctl could not read the manager's state (unknown, exit ${r.exitCode})${said}`;
  if (!SYSTEM_STATES.includes(word)) return `not a state word: ${JSON.stringify(word.slice(0, 200))} (exit ${r.exitCode})${said}`;
  const expectedExit = word === 'running' ? 0 : 1;
  if (r.exitCode !== expectedExit) return `${word} with exit ${r.exitCode} (systemctl exits ${expectedExit} for ${word})${said}`;
  return undefined;
}

/** A unit's name as systemctl lists it: NAME.TYPE (`-.mount`, `user@1000.service`). */
const UNIT_NAME = /^\S+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

/** The units `systemctl --failed --plain --no-legend` lists: each line's first column (nothing failed: no lines). */
export function failedUnitsOf(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
}

/** Why a `--failed --plain --no-legend` answer is not a unit list (undefined when it is one). */
export function failedUnitsProblem(r: { stdout: string; stderr: string; exitCode: number | null; signal?: string | null }): string | undefined {
  if (r.exitCode !== 0) return `exit ${r.exitCode ?? r.signal}: ${(r.stderr || r.stdout).trim() ? lastLines(r.stderr || r.stdout, 2) : 'nothing said'}`;
  const odd = failedUnitsOf(r.stdout).filter((u) => !UNIT_NAME.test(u));
  if (odd.length) return `lines that do not start with a unit name: ${odd.slice(0, 3).join(', ')}`;
  return undefined;
}

/** systemd on a host: the manager's state and its failed units. */
export class Systemd {
  constructor(readonly host: Host) {}

  /** `systemctl is-system-running`: one word (running, degraded, starting, …); exit 0 only for running. */
  async systemState(): Promise<{ state: string; result: CommandResult }> {
    const result = await this.host.run(['systemctl', 'is-system-running']);
    const problem = systemStateProblem(result);
    if (problem) {
      throw new HostBrokenError({
        claim: `could not read the state of systemd on ${this.host.name}`,
        expected: `\`systemctl is-system-running\` to print one state (${SYSTEM_STATES.join(', ')}), exit 0 for running and 1 otherwise`,
        seen: problem,
        host: this.host.name,
        evidence: [result.evidence],
      });
    }
    return { state: result.stdout.trim(), result };
  }

  /** `systemctl --failed --plain --no-legend`: the failed units' names. */
  async failedUnits(): Promise<{ units: string[]; result: CommandResult }> {
    const result = await this.host.run(['systemctl', '--failed', '--plain', '--no-legend']);
    const problem = failedUnitsProblem(result);
    if (problem) {
      throw new HostBrokenError({
        claim: `could not list the failed units on ${this.host.name}`,
        expected: '`systemctl --failed --plain --no-legend` to exit 0 with one line per failed unit (none when nothing failed)',
        seen: problem,
        host: this.host.name,
        evidence: [result.evidence],
      });
    }
    return { units: failedUnitsOf(result.stdout), result };
  }
}
