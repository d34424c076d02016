import type { CommandResult, Host } from './host';

/** The units `systemctl --failed --plain --no-legend` lists: each line's first column (nothing failed: no lines). */
export function failedUnitsOf(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
}

/** systemd on a host: the manager's state and its failed units. */
export class Systemd {
  constructor(readonly host: Host) {}

  /** `systemctl is-system-running`: one word (running, degraded, starting, …); exit 0 only for running. */
  async systemState(): Promise<{ state: string; result: CommandResult }> {
    const result = await this.host.run(['systemctl', 'is-system-running']);
    return { state: result.stdout.trim(), result };
  }

  /** `systemctl --failed --plain --no-legend`: the failed units' names. */
  async failedUnits(): Promise<{ units: string[]; result: CommandResult }> {
    const result = await this.host.run(['systemctl', '--failed', '--plain', '--no-legend']);
    return { units: failedUnitsOf(result.stdout), result };
  }
}
