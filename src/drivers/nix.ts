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

  /** The NAR hash of a store path: equal hashes mean byte-identical trees. */
  async narHash(storePath: string): Promise<string> {
    return (await this.host.succeed(['nix-store', '--query', '--hash', storePath])).stdout.trim();
  }
}
