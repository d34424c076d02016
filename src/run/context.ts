import { HostPool } from '../drivers/pool';
import { Git } from '../drivers/git';
import { Nix } from '../drivers/nix';
import { Recorder } from '../evidence/recorder';
import { Redactor } from '../evidence/redact';
import { loadProfile } from '../profile/load';
import type { Profile } from '../profile/schema';

/** What the runner hands to the cucumber run (as world parameters). */
export interface RunParameters {
  runId: string;
  /** Absolute path of reports/<run-id>. */
  runDir: string;
  /** The same, as shown in messages (relative to the project root). */
  shownDir: string;
  /** The profile file to load. */
  profilePath: string;
  /** Variables for the profile (LAB_DIR for the lab). */
  profileVars: Record<string, string>;
}

// Everything that lives for one run: the profile, the recorder, one connection per host, and
// results computed once and shared by the scenarios that need them (a clone, a build).
export class RunContext {
  private static instance: RunContext | null = null;
  readonly profile: Profile;
  readonly recorder: Recorder;
  readonly pool: HostPool;
  private readonly memo = new Map<string, Promise<unknown>>();

  private constructor(readonly params: RunParameters) {
    this.profile = loadProfile(params.profilePath, params.profileVars).profile;
    this.recorder = new Recorder(params.runDir, params.shownDir, new Redactor());
    this.pool = new HostPool(this.profile, this.recorder);
  }

  static of(params: RunParameters): RunContext {
    if (!RunContext.instance || RunContext.instance.params.runId !== params.runId) {
      RunContext.instance = new RunContext(params);
    }
    return RunContext.instance;
  }

  static get current(): RunContext | null {
    return RunContext.instance;
  }

  /** Computes a value once per run; every scenario asking later gets the same outcome. */
  once<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = compute();
      this.memo.set(key, p);
    }
    return p;
  }

  /** A per-run directory on the build host, removed when the run ends. */
  get workDir(): string {
    return `${this.profile.flake.workDir}/${this.params.runId}`;
  }

  git(role: keyof Profile['roles']): Git {
    return new Git(this.pool.role(role), this.profile.timeouts.clone);
  }

  nix(role: keyof Profile['roles']): Nix {
    return new Nix(this.pool.role(role), this.profile.timeouts.build);
  }

  async close(): Promise<void> {
    try {
      if (this.memo.has('workdir')) await this.pool.role('build').run(['rm', '-rf', this.workDir]);
    } catch (e) {
      this.recorder.progress(`could not remove ${this.workDir} on the build host: ${(e as Error).message}`);
    } finally {
      this.recorder.fact('run.sshConnections', this.pool.sshConnectionCounts());
      await this.pool.closeAll();
      RunContext.instance = null;
    }
  }
}
