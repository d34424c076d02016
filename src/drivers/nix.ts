import type { CommandResult, Host } from './host';

export interface RebuildOutcome {
  result: CommandResult;
  /** The store path the build produced, when it succeeded. */
  toplevel?: string;
}

/** Nix and NixOS commands, run on a host. */
export class Nix {
  constructor(
    readonly host: Host,
    private readonly buildTimeoutMs: number,
  ) {}

  /** `nixos-rebuild build --flake REF` in `workDir`, leaving ./result; returns the toplevel it points at. */
  async rebuildBuild(flakeRef: string, workDir: string): Promise<RebuildOutcome> {
    const result = await this.host.run(['nixos-rebuild', 'build', '--flake', flakeRef], {
      cwd: workDir,
      timeoutMs: this.buildTimeoutMs,
      stream: true,
    });
    if (!result.ok) return { result };
    const link = await this.host.succeed(['readlink', '-f', `${workDir}/result`]);
    return { result, toplevel: link.stdout.trim() };
  }

  /** What the host runs now: `readlink -f /run/current-system`. */
  async currentSystem(): Promise<string> {
    return (await this.host.succeed(['readlink', '-f', '/run/current-system'])).stdout.trim();
  }

  /** The system profile's numbered generations (`/nix/var/nix/profiles/system-N-link`) and where each points. */
  async systemGenerations(): Promise<{ links: { name: string; target: string }[]; evidence: string }> {
    const r = await this.host.succeed([
      'sh',
      '-c',
      'for l in /nix/var/nix/profiles/system-*-link; do [ -L "$l" ] && echo "${l##*/} $(readlink -f "$l")"; done; true',
    ]);
    const links = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ name: l.split(' ')[0]!, target: l.split(' ')[1] ?? '' }));
    return { links, evidence: r.evidence };
  }

  /** The NAR hash the store's database records for a path (what it was when it was added). */
  async narHash(storePath: string): Promise<string> {
    return (await this.host.succeed(['nix-store', '--query', '--hash', storePath])).stdout.trim();
  }

  /**
   * The NAR hash of the files on disk now, in the database's notation (sha256:<base32>): equal
   * hashes mean byte-identical trees, whatever the database says.
   */
  async narHashOnDisk(storePath: string): Promise<{ hash: string; evidence: string }> {
    const r = await this.host.succeed(['nix-hash', '--type', 'sha256', '--base32', storePath], { timeoutMs: this.buildTimeoutMs });
    return { hash: `sha256:${r.stdout.trim()}`, evidence: r.evidence };
  }
}
