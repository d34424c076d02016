import { claimThat } from '../claim';
import type { RunContext } from '../run/context';
import { cleanClone, workDir } from './repos';

export interface CleanBuild {
  flakeRef: string;
  toplevel: string;
  /** As the build host's store database records it. */
  narHash: string;
  /** Of the files on the build host's disk. */
  narHashOnDisk: string;
  baseCommit: string;
  secretsCommit: string;
  evidence: string;
  hashEvidence: string;
}

/** Turns the feature's command template into the flake reference for a given clone. */
export function flakeRefFrom(template: string, cloneDir: string): string {
  const m = /^nixos-rebuild build --flake '([^']+)'$/.exec(template.trim());
  if (!m) throw new Error(`expected a command of the form nixos-rebuild build --flake '<ref>', got: ${template}`);
  return m[1]!.replace('<clone>', cloneDir);
}

/** `nixos-rebuild build` of the clean recursive clone on the build host, once per run. */
export function cleanBuild(run: RunContext, commandTemplate: string): Promise<CleanBuild> {
  return run.once(`clean-build ${commandTemplate}`, async () => {
    const clone = await cleanClone(run, 'needed before the build');
    const host = run.pool.role('build');
    const flakeRef = flakeRefFrom(commandTemplate, clone.dir);
    const git = run.git('build');
    const baseCommit = await git.revParse(clone.dir, 'HEAD');
    const secretsCommit = await git.revParse(`${clone.dir}/secrets`, 'HEAD').catch(() => '(no submodule checkout)');
    const nix = run.nix('build');
    const { result, toplevel } = await nix.rebuildBuild(flakeRef, await workDir(run));
    claimThat(toplevel !== undefined, {
      claim: `nixos-rebuild build of the clean clone succeeds`,
      expected: 'exit 0 and a toplevel store path',
      seen: `exit ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`,
      host: host.name,
      evidence: [result.evidence],
    });
    const [narHash, onDisk] = await Promise.all([nix.narHash(toplevel), nix.narHashOnDisk(toplevel)]);
    // What Nix built, as it says ("these N derivations will be built"): none means the store already had it.
    const m = /these (\d+) derivations? will be built/.exec(result.stderr);
    run.recorder.fact('build.derivationsBuilt', m ? Number(m[1]) : /will be built/.test(result.stderr) ? null : 0, host.name);
    return { flakeRef, toplevel, narHash, narHashOnDisk: onDisk.hash, baseCommit, secretsCommit, evidence: result.evidence, hashEvidence: onDisk.evidence };
  });
}

export interface LiveSystem {
  toplevel: string;
  narHash: string;
  narHashOnDisk: string;
  evidence: string;
  hashEvidence: string;
}

/** What the live host runs now, once per run. */
export function liveSystem(run: RunContext): Promise<LiveSystem> {
  return run.once('live-system', async () => {
    const host = run.pool.role('live');
    const r = await host.succeed(['readlink', '-f', '/run/current-system']);
    const toplevel = r.stdout.trim();
    const nix = run.nix('live');
    const [narHash, onDisk] = await Promise.all([nix.narHash(toplevel), nix.narHashOnDisk(toplevel)]);
    return { toplevel, narHash, narHashOnDisk: onDisk.hash, evidence: r.evidence, hashEvidence: onDisk.evidence };
  });
}
