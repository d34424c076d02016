import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, PROJECT_ROOT } from './harness';
import { LAB_ASSETS } from './paths';
import { layImage } from './image';
import { plugHost } from './net';

// Lab hosts as Linux namespaces: shared by the lab (its fixed hosts) and the lab's Incus
// stand-in (instances made on demand). A host's namespaces live as long as its processes.

/** Per-host directories, bind-mounted over the same paths inside the host (see host-init). */
const HOST_DIRS = ['root', 'nix', 'var-lib', 'var-log', 'etc-ssh', 'etc-nix', 'tmp', 'home', 'opt'];

export const NIX_CONF = `# lab host nix: no binary caches, no sandbox, flakes on
experimental-features = nix-command flakes
substituters =
sandbox = false
build-users-group =
`;

/** What the running lab publishes about itself, for lab-exec, fault scripts and stand-ins. */
export interface LabIndex {
  switchPid: number;
  hosts: { name: string; address?: string; labAddress: string }[];
  domain: string;
}

export function hostDir(labDir: string, name: string): string {
  return join(labDir, 'hosts', name);
}

export function writeLabIndex(labDir: string, index: LabIndex): void {
  writeFileSync(join(labDir, 'lab.json'), JSON.stringify(index, null, 2) + '\n');
}

export function readLabIndex(labDir: string): LabIndex {
  return JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8')) as LabIndex;
}

export function etcHosts(index: Pick<LabIndex, 'hosts'>): string {
  return `127.0.0.1\tlocalhost\n${index.hosts.map((h) => `${h.labAddress}\t${h.name}`).join('\n')}\n`;
}

/** An empty host: its own /root, /nix, /var/lib, /var/log, /etc/ssh, /etc/nix, /tmp, /home, /opt and /etc/hosts. */
export function makeHostDirs(dir: string, files: { etcHosts: string }): void {
  for (const d of HOST_DIRS) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'root'), 0o700);
  chmodSync(join(dir, 'tmp'), 0o1777);
  writeFileSync(join(dir, 'etc-nix', 'nix.conf'), NIX_CONF);
  writeFileSync(join(dir, 'etc-hosts'), files.etcHosts);
}

export interface Spawned {
  pid: number;
  mntns: string;
  child: ChildProcess;
}

/** Starts a process in new mount, UTS and network namespaces; returns once they exist. */
export async function spawnNamespace(labDir: string, name: string, argv: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const dir = hostDir(labDir, name);
  mkdirSync(dir, { recursive: true });
  const logFd = openSync(join(dir, 'host.log'), 'a');
  const child = spawn('unshare', ['--mount', '--uts', '--net', '--propagation', 'private', '--', ...argv], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
  });
  closeSync(logFd);
  child.unref();
  const pid = child.pid;
  if (!pid) throw new Error(`lab: could not start ${name}`);
  writeFileSync(join(dir, 'pid'), `${pid}\n`);
  const mine = { mnt: readlinkSync('/proc/self/ns/mnt'), net: readlinkSync('/proc/self/ns/net') };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited(child)) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      if (ns !== mine.mnt && readlinkSync(`/proc/${pid}/ns/net`) !== mine.net) {
        const id = nsIdentity(pid)!;
        writeFileSync(join(dir, 'mntns'), `${id}\n`);
        return { pid, mntns: id, child };
      }
    } catch {
      /* not yet */
    }
    await sleep(20);
  }
  throw new HostStartError(name, exited(child) ? `exited while starting (${exitOf(child)})` : 'did not start its namespaces within 10s', hostLog(labDir, name));
}

/** A lab host whose init exited while it started: the message names it and its log's last lines. */
export class HostStartError extends LabError {
  constructor(
    readonly host: string,
    what: string,
    log: string,
  ) {
    super(`lab: host ${host} ${what}: ${log}`);
  }
}

/**
 * Starts a host's init (host-init): with sshd, or, for a blank instance, only an agent. Returns
 * once its mounts are made (host-init's `init-ready`); an init that exits first is named.
 */
export async function spawnHostInit(labDir: string, name: string, opts: { sshd: boolean; binds?: string[] }): Promise<Spawned> {
  const dir = hostDir(labDir, name);
  rmSync(join(dir, 'init-ready'), { force: true });
  const spawned = await spawnNamespace(
    labDir,
    name,
    [join(LAB_ASSETS, 'bin', 'host-init'), name, dir, PROJECT_ROOT, ...(opts.binds ?? [])],
    opts.sshd ? {} : { LAB_HOST_AGENT: '1' },
  );
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(dir, 'init-ready'))) {
    if (exited(spawned.child)) throw new HostStartError(name, `exited while starting (${exitOf(spawned.child)})`, hostLog(labDir, name));
    if (Date.now() > deadline) throw new HostStartError(name, 'did not finish its mounts within 10s', hostLog(labDir, name));
    await sleep(20);
  }
  return spawned;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function exitOf(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `exit ${child.exitCode}`;
}

/** A blank instance on the lab bridge: no sshd, no keys, no repos, an empty /nix. */
export async function startInstance(labDir: string, name: string, labAddr: string, binds: string[] = []): Promise<Spawned> {
  const index = readLabIndex(labDir);
  makeHostDirs(hostDir(labDir, name), { etcHosts: etcHosts(index) });
  layImage(hostDir(labDir, name));
  const spawned = await spawnHostInit(labDir, name, { sshd: false, binds });
  await plugHost(index.switchPid, spawned.pid, labAddr);
  return spawned;
}

export function hostLog(labDir: string, name: string): string {
  const file = join(hostDir(labDir, name), 'host.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ') || '(no output)' : '(no output)';
}

export function namespaceOf(labDir: string, name: string): string | undefined {
  const f = join(hostDir(labDir, name), 'mntns');
  return existsSync(f) ? readFileSync(f, 'utf8').trim() || undefined : undefined;
}

export function namespacesOf(labDir: string): string[] {
  const hostsDir = join(labDir, 'hosts');
  if (!existsSync(hostsDir)) return [];
  return readdirSync(hostsDir)
    .map((h) => namespaceOf(labDir, h))
    .filter((ns): ns is string => !!ns);
}

/**
 * A host's identity: its mount and its network namespace together. A namespace's number is
 * reused once it is gone, so one alone could name another run's processes (a scan's private
 * mount namespace has been seen to get a dead instance's number); both together do not.
 */
export function nsIdentity(pid: number | string): string | undefined {
  try {
    return `${readlinkSync(`/proc/${pid}/ns/mnt`)} ${readlinkSync(`/proc/${pid}/ns/net`)}`;
  } catch {
    return undefined;
  }
}

/**
 * The processes of hosts: those in a host's mount and network namespace, and, while such a host
 * lives, those that left its mount namespace for one of their own but share its network (a
 * plaintext scan in its private mount namespace).
 */
export function processesIn(namespaces: string[]): number[] {
  const wanted = new Set(namespaces);
  const all = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map((e) => ({ pid: Number(e), id: nsIdentity(e) }))
    .filter((p): p is { pid: number; id: string } => !!p.id);
  const members = all.filter((p) => wanted.has(p.id));
  const liveNets = new Set(members.map((p) => p.id.split(' ')[1]));
  return all.filter((p) => wanted.has(p.id) || liveNets.has(p.id.split(' ')[1])).map((p) => p.pid);
}

/** Every process in these namespaces is ended; with the last one, their mounts go too. */
export async function killNamespaces(namespaces: string[]): Promise<void> {
  if (!namespaces.length) return;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    for (const pid of processesIn(namespaces)) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + 3000;
    while (processesIn(namespaces).length && Date.now() < deadline) await sleep(50);
    if (!processesIn(namespaces).length) return;
  }
  const left = processesIn(namespaces);
  if (left.length) throw new Error(`lab: processes ${left.join(', ')} would not stop`);
}

/** Stops one host (an instance) and removes its directory. */
export async function removeHost(labDir: string, name: string): Promise<void> {
  const ns = namespaceOf(labDir, name);
  if (ns) await killNamespaces([ns]);
  rmSync(hostDir(labDir, name), { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
