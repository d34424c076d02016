import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { LabError, PROJECT_ROOT, poll, type Profile } from './harness';
import { LAB_ASSETS, LAB_ROOT } from './paths';
import {
  etcHosts,
  exited,
  exitOf,
  hostDir,
  hostLog,
  type HostNamespaces,
  HostStartError,
  killNamespaces,
  makeHostDirs,
  namespacesOf,
  processesIn,
  sleep,
  spawnHostInit,
  spawnNamespace,
  writeLabIndex,
} from './hosts';
import { labAddress, makeBridge, openRelay, plugHost } from './net';
import { labPreflight } from './preflight';
import { buildWorld, type LabWorld } from './world';

// The lab: each host a real sshd in its own mount and UTS namespace on its own loopback
// address, with its own /run, /root, /nix, /var/lib, /etc/ssh, /etc/nix, /tmp and /etc/hosts.

/** Hosts the lab builds; the lab profile must name each of them. */
export const LAB_HOSTS = ['forge', 'cc-ci', 'builder', 'gateway'] as const;
export type LabHostName = (typeof LAB_HOSTS)[number];

/** Ports besides ssh that the runner reaches on a host (relayed to the host's 127.0.0.1). */
const SERVED_PORTS: Record<LabHostName, number[]> = { forge: [3000], 'cc-ci': [80, 443, 8080], builder: [], gateway: [80, 443] };

export interface LabHost {
  name: string;
  /** Where the runner reaches it (the profile's address). */
  address: string;
  /** Where other lab hosts reach it, on the lab bridge. */
  labAddress: string;
  dir: string;
  pid: number;
  ns: HostNamespaces;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type LabLog = (line: string) => void;

export class Lab {
  readonly hosts = new Map<string, LabHost>();
  world!: LabWorld;
  private stopping?: Promise<void>;

  private constructor(
    readonly dir: string,
    readonly profile: Profile,
    private readonly log: LabLog,
  ) {}

  get forgeDir(): string {
    return join(this.dir, 'forge');
  }

  /** Environment for fault scripts: LAB_DIR, and lab-exec on PATH. */
  get scriptEnv(): Record<string, string> {
    return { LAB_DIR: this.dir, PATH: `${join(LAB_ASSETS, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  }

  static newDir(runId: string): string {
    return join(LAB_ROOT, runId);
  }

  static async start(dir: string, profile: Profile, log: LabLog): Promise<Lab> {
    labPreflight(log);
    await acquireLabLock(
      dir,
      log,
      Object.values(profile.hosts).flatMap((h) => (h.transport === 'ssh' ? [h.address] : [])),
    );
    const lab = new Lab(dir, profile, log);
    try {
      await Lab.reapStale(log);
      await lab.boot();
      return lab;
    } catch (e) {
      await lab.stop();
      throw e;
    }
  }

  /**
   * Stops a lab that is still starting (an interrupt): no host starts after this, and what has
   * started is ended. Returns what could not be stopped, by name.
   */
  static async abortStart(dir: string): Promise<string[]> {
    aborting.add(dir);
    const left: string[] = [];
    for (let pass = 0; pass < 2; pass++) {
      await killNamespaces(namespacesOf(dir)).catch((e: Error) => left.push(e.message));
      await sleep(200);
    }
    rmSync(dir, { recursive: true, force: true });
    releaseLabLock(dir);
    return left;
  }

  /** Stops labs left running by an earlier run that was killed: only labs, never another's. */
  static async reapStale(log: LabLog, opts: { dryRun?: boolean } = {}): Promise<string[]> {
    if (!opts.dryRun) for (const run of removeStaleLocks()) log(`lab: removing the lab lock of run ${run}: its holder is gone`);
    if (!existsSync(LAB_ROOT)) return [];
    const reaped: string[] = [];
    for (const run of readdirSync(LAB_ROOT)) {
      const dir = join(LAB_ROOT, run);
      // A lab writes its owner first; a directory without one is not a lab's (a test's own).
      if (!existsSync(join(dir, 'owner')) || ownerAlive(dir)) continue;
      reaped.push(run);
      await reapLab(dir, log, opts.dryRun);
    }
    return reaped;
  }

  /** Runs a command as root inside a lab host, like lab-exec. */
  async exec(host: string, argv: string[], opts: { stdin?: string; check?: boolean; quiet?: boolean } = {}): Promise<ExecResult> {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`no lab host ${host}`);
    const r = await execa(join(LAB_ASSETS, 'bin', 'lab-exec'), [host, ...argv], {
      env: { LAB_DIR: this.dir },
      input: opts.stdin,
      reject: false,
      stripFinalNewline: false,
    });
    const result = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    if (!opts.quiet) this.appendLog(`[${host}] $ ${argv.join(' ')} -> exit ${result.exitCode}\n${result.stdout}${result.stderr}`);
    if (opts.check !== false && result.exitCode !== 0) {
      throw new Error(
        `lab: \`${argv.join(' ')}\` on ${host} exited ${result.exitCode}: ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
    return result;
  }

  sh(host: string, script: string, opts: { stdin?: string; check?: boolean } = {}): Promise<ExecResult> {
    return this.exec(host, ['sh', '-ec', script], opts);
  }

  /**
   * Waits until something listens on the host's own 127.0.0.1:port: a unit that just started
   * (named by `unit`, stopping at once when it failed) or a process logging to `log`. A server
   * that cannot start is named, with the last lines of its log.
   */
  async waitForPort(host: string, port: number, by: { unit: string } | { log: string }, timeoutMs = 15_000): Promise<void> {
    const logFile = 'unit' in by ? `/var/log/units/${by.unit}.log` : by.log;
    const what = 'unit' in by ? `unit ${by.unit}` : `the server logging to ${by.log}`;
    const { value } = await poll({ what: `${what} on ${host} to listen on ${port}`, deadlineMs: timeoutMs, pauseMs: 50, maxPauseMs: 200 }, async () => {
      if ((await this.exec(host, ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { check: false, quiet: true })).exitCode === 0) return 'listening';
      const failed = 'unit' in by && (await this.exec(host, ['systemctl', 'is-failed', by.unit], { check: false, quiet: true })).exitCode === 0;
      return failed ? 'failed' : undefined;
    });
    if (value === 'listening') return;
    const tail = (await this.exec(host, ['tail', '-n', '5', logFile], { check: false, quiet: true })).stdout.trim().split('\n').join(' | ');
    throw new LabError(
      `lab: ${what} on ${host} ${value === 'failed' ? 'failed' : `does not listen on 127.0.0.1:${port} after ${timeoutMs / 1000}s`}: ${tail || '(no output)'}`,
    );
  }

  /** Stops the lab, once: a second caller waits for the first. */
  stop(): Promise<void> {
    return (this.stopping ??= this.stopOnce());
  }

  private async stopOnce(): Promise<void> {
    aborting.add(this.dir);
    try {
      await killNamespaces(namespacesOf(this.dir));
      rmSync(this.dir, { recursive: true, force: true });
    } finally {
      releaseLabLock(this.dir);
    }
  }

  private checkNotAborted(): void {
    if (aborting.has(this.dir)) throw new LabError('lab: the start was interrupted');
  }

  private readonly startedAt = performance.now();

  /** Notes in lab.log how long the start took to reach `what` (where a slow start spends its time). */
  mark(what: string): void {
    this.appendLog(`lab: +${((performance.now() - this.startedAt) / 1000).toFixed(2)}s ${what}`);
  }

  private appendLog(text: string): void {
    try {
      writeFileSync(join(this.dir, 'lab.log'), text.endsWith('\n') ? text : text + '\n', { flag: 'a' });
    } catch {
      /* the lab dir is gone while stopping */
    }
  }

  private async boot(): Promise<void> {
    const t0 = performance.now();
    mkdirSync(join(this.dir, 'runner'), { recursive: true });
    // Written whole, by rename: another lab starting beside this one reads it, and an empty owner would look dead.
    writeFileSync(join(this.dir, `owner.${process.pid}`), `${process.pid}\n`);
    renameSync(join(this.dir, `owner.${process.pid}`), join(this.dir, 'owner'));
    mkdirSync(join(this.dir, 'keys'), { recursive: true });
    mkdirSync(this.forgeDir, { recursive: true });
    mkdirSync('/nix', { recursive: true });
    const specs = LAB_HOSTS.map((name) => {
      const spec = this.profile.hosts[name];
      if (!spec || spec.transport !== 'ssh') throw new Error(`the lab profile must define ssh host "${name}"`);
      return { name, address: spec.address, port: spec.port };
    });

    await keygen(join(this.dir, 'runner', 'id_ed25519'), 'runner@lab');
    const hostKeys = new Map<string, string>();
    const clientKeys = new Map<string, string>();
    const index = { hosts: specs.map((s) => ({ name: s.name, address: s.address, labAddress: labAddress(s.address) })), domain: this.profile.domain };
    for (const s of specs) {
      const dir = hostDir(this.dir, s.name);
      makeHostDirs(dir, { etcHosts: etcHosts(index) });
      mkdirSync(join(dir, 'root', '.ssh'), { recursive: true, mode: 0o700 });
      await keygen(join(dir, 'etc-ssh', 'ssh_host_ed25519_key'), `root@${s.name}`);
      await keygen(join(dir, 'root', '.ssh', 'id_ed25519'), `root@${s.name}`);
      hostKeys.set(
        s.name,
        readFileSync(join(dir, 'etc-ssh', 'ssh_host_ed25519_key.pub'), 'utf8')
          .split(' ')
          .slice(0, 2)
          .join(' '),
      );
      clientKeys.set(s.name, readFileSync(join(dir, 'root', '.ssh', 'id_ed25519.pub'), 'utf8').trim());
    }

    const knownHosts = specs.map((s) => `${s.name},${labAddress(s.address)} ${hostKeys.get(s.name)}`).join('\n') + '\n';
    writeFileSync(join(this.dir, 'runner', 'known_hosts'), specs.map((s) => `${s.address} ${hostKeys.get(s.name)}`).join('\n') + '\n');
    const runnerKey = readFileSync(join(this.dir, 'runner', 'id_ed25519.pub'), 'utf8').trim();

    for (const s of specs) {
      const dir = join(this.dir, 'hosts', s.name);
      // The forge accepts the runner and every host (deploy keys); other hosts accept the runner.
      const authorized = s.name === 'forge' ? [runnerKey, ...clientKeys.values()] : [runnerKey];
      writeFileSync(join(dir, 'root', '.ssh', 'authorized_keys'), authorized.join('\n') + '\n', { mode: 0o600 });
      writeFileSync(join(dir, 'etc-ssh', 'sshd_config'), sshdConfig());
      writeFileSync(join(dir, 'etc-ssh', 'ssh_config'), SSH_CLIENT_CONFIG);
      writeFileSync(join(dir, 'etc-ssh', 'ssh_known_hosts'), knownHosts);
      writeFileSync(join(dir, 'root', '.gitconfig'), '[user]\n\tname = root\n\temail = root@lab.test\n[init]\n\tdefaultBranch = main\n');
    }

    this.log(`lab: starting ${specs.length} hosts (${specs.map((s) => `${s.name} ${s.address}`).join(', ')})`);
    this.checkNotAborted();
    const sw = await spawnNamespace(this.dir, 'switch', ['sleep', 'infinity']);
    await makeBridge(sw.pid);
    writeLabIndex(this.dir, { switchPid: sw.pid, ...index });
    for (const s of specs) {
      this.checkNotAborted();
      this.hosts.set(s.name, await this.spawnHost(s.name, s.address, s.port, sw.pid));
    }

    this.checkNotAborted();
    this.mark('hosts up');
    this.log('lab: creating the forge repos (cc-ci, cc-ci-secrets) and installing cc-ci');
    this.world = await buildWorld(this);
    this.log(`lab: up in ${((performance.now() - t0) / 1000).toFixed(1)}s at ${this.dir}`);
  }

  private async spawnHost(name: string, address: string, port: number, switchPid: number): Promise<LabHost> {
    const dir = hostDir(this.dir, name);
    // The forge serves the bare repos of $LAB_DIR/forge at /srv/git.
    const { pid, ns, child } = await spawnHostInit(this.dir, name, { sshd: true, binds: name === 'forge' ? [`${this.forgeDir}:/srv/git`] : [] });
    const inLab = labAddress(address);
    const log = openSync(join(dir, 'host.log'), 'a');
    try {
      await plugHost(switchPid, pid, inLab);
      await openRelay(pid, address, port, 22, log);
      for (const p of SERVED_PORTS[name as LabHostName] ?? []) await openRelay(pid, address, p, p, log);
    } catch (e) {
      // A host that died under its network setup is the cause, not the command that then failed.
      await sleep(100);
      if (exited(child)) throw new HostStartError(name, `exited while starting (${exitOf(child)})`, hostLog(this.dir, name));
      throw e;
    } finally {
      closeSync(log);
    }
    const { value: answered } = await poll({ what: `${name}'s sshd`, deadlineMs: 10_000, pauseMs: 50, maxPauseMs: 50 }, async () =>
      (await sshBanner(address, port)) ? true : exited(child) ? false : undefined,
    );
    if (answered) return { name, address, labAddress: inLab, dir, pid, ns };
    if (exited(child)) throw new HostStartError(name, `exited while starting sshd (${exitOf(child)})`, hostLog(this.dir, name));
    throw new HostStartError(name, `did not answer ssh at ${address}:${port} within 10s`, hostLog(this.dir, name));
  }
}

export function sshdConfig(): string {
  return `# lab host sshd: port 22 in the host's own network namespace
ListenAddress 0.0.0.0:22
# The lab's stand-ins (sops, ...) find the harness here.
SetEnv CC_CI_HARNESS_ROOT=${PROJECT_ROOT}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
StrictModes yes
UseDNS no
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
PrintMotd no
Subsystem sftp internal-sftp
`;
}

const SSH_CLIENT_CONFIG = `# lab host ssh client: keys and known hosts are the lab's own
Host *
    IdentityFile /root/.ssh/id_ed25519
    UserKnownHostsFile /etc/ssh/ssh_known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
`;

async function keygen(path: string, comment: string): Promise<void> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

function sshBanner(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: 500 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('data', (d) => done(d.toString().startsWith('SSH-2.0')));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
    // The relay accepts, then closes when nothing listens inside yet: no data, no error. Left
    // pending, this promise held nothing open, and node exited 0 in the middle of a lab start.
    s.once('close', () => done(false));
  });
}

/** A lab whose owning process still runs is someone else's, not a stale one. */
function ownerAlive(dir: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(dir, 'owner'), 'utf8').trim();
  } catch (e) {
    // Gone between the listing and the read: a lab removing itself as it stops, not a stale one.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
  // What is not a pid is not an owner seen to be gone: never reaped on a guess.
  if (!/^[1-9]\d*$/.test(text)) return true;
  const owner = Number(text);
  if (owner === process.pid) return false;
  try {
    process.kill(owner, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops and removes the lab of a run whose owner is gone, saying so. */
async function reapLab(dir: string, log: LabLog, dryRun = false): Promise<void> {
  const namespaces = namespacesOf(dir);
  const left = namespaces.length ? processesIn(namespaces).length : 0;
  const owner = readFileSync(join(dir, 'owner'), 'utf8').trim();
  log(
    `lab: ${dryRun ? 'would stop' : 'stopping'} the lab of run ${basename(dir)} at ${dir}: its owner (pid ${owner}) is gone${left ? `, ${left} of its processes still run` : ', nothing of it runs'}`,
  );
  if (dryRun) return;
  await killNamespaces(namespaces);
  rmSync(dir, { recursive: true, force: true });
}

/** Labs being stopped while they start: no host is spawned for them any more. */
const aborting = new Set<string>();

/**
 * A lab listens on its profile's addresses (127.0.10.N for the lab profile): one lock per
 * address, so two labs on different addresses run side by side and two on the same one take
 * turns, from whichever checkout of the harness. The locks live in /run, so a reboot clears them.
 */
export const LAB_LOCK_DIR = '/run/cc-ci-acceptance';

export function labLockPath(address: string): string {
  return join(LAB_LOCK_DIR, `lab-${address}.lock`);
}

/** Every lab lock on this machine, held or stale. */
export function labLocks(): string[] {
  return existsSync(LAB_LOCK_DIR)
    ? readdirSync(LAB_LOCK_DIR)
        .filter((f) => /^lab-.+\.lock$/.test(f))
        .map((f) => join(LAB_LOCK_DIR, f))
    : [];
}

interface LockHolder {
  runId: string;
  pid: number;
  since: string;
  /** The holder's lab, which may be another checkout's: reaped when the holder is gone. */
  labDir?: string;
}

function readLock(file: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of each of the lab's addresses for the lab in `dir` (in one order, so two labs
 * never wait on each other), waiting with a message while another live run holds one. A holder
 * that is gone (killed) does not keep it: its lab is stale, and is reaped next.
 */
export async function acquireLabLock(dir: string, log: LabLog, addresses: string[], pollMs = 1000): Promise<void> {
  mkdirSync(LAB_LOCK_DIR, { recursive: true });
  const me: LockHolder = { runId: basename(dir), pid: process.pid, since: new Date().toISOString(), labDir: dir };
  for (const address of [...new Set(addresses)].sort()) {
    const file = labLockPath(address);
    let told = 0;
    for (;;) {
      try {
        writeFileSync(file, JSON.stringify(me) + '\n', { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readLock(file);
      if (holder && holder.pid === process.pid) {
        if (holder.runId === me.runId) break;
        releaseLabLock(dir);
        throw new LabError(`lab: this process already runs the lab of run ${holder.runId} on ${address}; stop it before starting another`);
      }
      if (holder && !alive(holder.pid)) {
        log(`lab: the lab lock of run ${holder.runId} (pid ${holder.pid}) on ${address} is stale (that process is gone): taking it`);
        // Its lab may be another checkout's, still holding the addresses: stop it too.
        if (holder.labDir && dirname(holder.labDir) !== LAB_ROOT && existsSync(join(holder.labDir, 'owner')) && !ownerAlive(holder.labDir))
          await reapLab(holder.labDir, log);
        rmSync(file, { force: true });
        continue;
      }
      // A lock file being written reads empty for a moment; one that stays unreadable is stale.
      if (!holder) {
        await sleep(100);
        if (!readLock(file) && existsSync(file) && Date.now() - statSync(file).mtimeMs > 5000) rmSync(file, { force: true });
        continue;
      }
      const now = Date.now();
      if (!told || now - told > 30_000) {
        log(
          `lab: waiting for run ${holder.runId} (pid ${holder.pid}, since ${holder.since}) to stop its lab: it listens on ${address}, as this lab would (${addresses.join(', ')})`,
        );
        told = now;
      }
      await sleep(pollMs);
    }
  }
}

/** Gives back the locks this lab holds. */
export function releaseLabLock(dir: string): void {
  for (const file of labLocks()) {
    const holder = readLock(file);
    if (holder && holder.pid === process.pid && holder.runId === basename(dir)) rmSync(file, { force: true });
  }
}

/** Removes the locks of runs whose process is gone; returns their run ids. */
function removeStaleLocks(): string[] {
  const runs = new Set<string>();
  for (const file of labLocks()) {
    const holder = readLock(file);
    if (holder && !alive(holder.pid)) {
      rmSync(file, { force: true });
      runs.add(`${holder.runId} (pid ${holder.pid})`);
    }
  }
  return [...runs];
}
