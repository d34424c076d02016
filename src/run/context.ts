import { HostPool } from '../drivers/pool';
import { Git } from '../drivers/git';
import { Nix } from '../drivers/nix';
import { SopsOnHost } from '../drivers/sops';
import type { Host } from '../drivers/host';
import { finishThrowaways } from '../tasks/throwaway';
import { Recorder } from '../evidence/recorder';
import { Memo } from './memo';
import { Redactor } from '../evidence/redact';
import { setMessageRedaction } from '../errors';
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
  /** When to delete a throwaway VM: passing, always, never. */
  destroy: 'passing' | 'always' | 'never';
  /** Instances the operator keeps. */
  keep: string[];
  /** Set when the doctor's preflight found something the selection needs missing: every scenario is broken with it. */
  preflightFailure?: { reason: string; evidence: string };
}

// Everything that lives for one run: the profile, the recorder, one connection per host, and
// results computed once and shared by the scenarios that need them (a clone, a build).
export class RunContext {
  private static instance: RunContext | null = null;
  /** The CLI's redactor: every secret the run learns joins it, for the end-of-run leak scan. */
  static sharedRedactor?: Redactor;
  readonly profile: Profile;
  readonly recorder: Recorder;
  readonly pool: HostPool;
  private readonly memo: Memo;
  /** Throwaway VMs this run created and has not yet deleted or kept. */
  readonly throwaways = new Set<string>();
  /** Whether a scenario that used a throwaway went red (the destroy policy keeps it then). */
  throwawayFailed = false;

  private constructor(readonly params: RunParameters) {
    this.profile = loadProfile(params.profilePath, params.profileVars).profile;
    this.recorder = new Recorder(params.runDir, params.shownDir, RunContext.sharedRedactor ?? new Redactor());
    setMessageRedaction((t) => this.recorder.redact(t));
    this.pool = new HostPool(this.profile, this.recorder);
    this.memo = new Memo(this.recorder);
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

  private readonly made = new Map<string, unknown>();

  /** Makes a thing (a client) once per run. */
  single<T>(key: string, make: () => T): T {
    if (!this.made.has(key)) this.made.set(key, make());
    return this.made.get(key) as T;
  }

  /** Computes a value once per run; a later scenario asking gets the same outcome and its facts. */
  once<T>(key: string, compute: () => Promise<T>): Promise<T> {
    return this.memo.once(key, compute);
  }

  /** Whether `once(key)` was asked for in this run (its work started). */
  started(key: string): boolean {
    return this.memo.has(key);
  }

  private readonly workDirs = new Map<string, Promise<string>>();

  /** This run's directory on a host (<flake.workDir>/<run-id>), made once, removed when the run ends. */
  workDirOn(host: Host): Promise<string> {
    let dir = this.workDirs.get(host.name);
    if (!dir) {
      const path = `${this.profile.flake.workDir}/${this.params.runId}`;
      dir = host.succeed(['mkdir', '-p', path]).then(() => path);
      this.workDirs.set(host.name, dir);
    }
    return dir;
  }

  /** The host where secrets may be decrypted: one that holds a key, never the runner unless allowed. */
  get decryptHost(): Host {
    return this.pool.get(this.profile.secrets.decryptOn ?? this.profile.roles.live);
  }

  sops(): SopsOnHost {
    const { tools, secrets, timeouts } = this.profile;
    return new SopsOnHost(this.decryptHost, tools.sops, tools.openssl, secrets.keyFile, timeouts.scan);
  }

  git(role: keyof Profile['roles']): Git {
    return new Git(this.pool.role(role), this.profile.timeouts.clone);
  }

  nix(role: keyof Profile['roles']): Nix {
    return new Nix(this.pool.role(role), this.profile.timeouts.build);
  }

  /** Set by an interrupt: no scenario starts after it. */
  interrupted = false;

  /** What this run still has to clean, by name: for a second interrupt to print. */
  pendingCleanup(): string[] {
    return [
      ...[...this.throwaways].map((t) => `the throwaway VM ${t}`),
      ...[...this.workDirs.keys()].map((h) => `this run's work dir ${this.profile.flake.workDir}/${this.params.runId} on ${h}`),
    ];
  }

  /** After a signal: throwaways go under the destroy policy as if the run had passed (kept only by --destroy never or --keep), work dirs are removed. */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    this.throwawayFailed = false;
    await this.close();
  }

  private closing?: Promise<void>;

  /** Ends the run's hold on the world, once (the end of the run and an interrupt may both ask). */
  close(): Promise<void> {
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    try {
      if (this.throwaways.size) await finishThrowaways(this, this.params.destroy, this.throwawayFailed);
    } catch (e) {
      this.recorder.progress(`could not finish the throwaway VM(s) ${[...this.throwaways].join(', ')}: ${(e as Error).message}`);
    }
    try {
      for (const [name, dir] of this.workDirs) {
        const path = await dir.catch(() => null);
        if (path)
          await this.pool
            .get(name)
            .run(['rm', '-rf', path])
            .catch((e: Error) => this.recorder.progress(`could not remove ${path} on ${name}: ${e.message}`));
        this.workDirs.delete(name);
      }
    } finally {
      this.recorder.fact('run.sshConnections', this.pool.sshConnectionCounts());
      // The harness's own CPU (this process: the CLI, cucumber, the checks; not the hosts or the lab's programs).
      const cpu = process.cpuUsage();
      this.recorder.fact('run.harnessCpu', {
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        wallMs: Math.round(process.uptime() * 1000),
      });
      await this.pool.closeAll();
      RunContext.instance = null;
    }
  }
}
