import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  ns: HostNamespaces;
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
        const ns: HostNamespaces = { id: nsIdentity(pid)!, dir, init: { pid, start: startTime(pid)! } };
        writeFileSync(join(dir, 'mntns'), JSON.stringify({ id: ns.id, init: ns.init }) + '\n');
        return { pid, ns, child };
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

/**
 * A host's namespaces, as the lab made them. Their numbers alone do not name them: the kernel
 * gives a freed namespace's number to the next one made (lowest free first), so a stopped host's
 * numbers soon belong to another lab's host, and a stop that signalled by number alone has
 * killed another lab's host as it started. A process is the host's only while the namespaces
 * are seen to be the host's own: its init still runs (same pid, same start time), or its mount
 * table holds the host's own directories (host-init binds them in).
 */
export interface HostNamespaces {
  /** Mount and network namespace, as nsIdentity gives them. */
  id: string;
  /** The host's directory on this machine. */
  dir: string;
  /** The process that made the namespaces, with its start time (clock ticks since boot). */
  init: { pid: number; start: string };
}

export function namespaceOf(labDir: string, name: string): HostNamespaces | undefined {
  const dir = hostDir(labDir, name);
  try {
    const rec = JSON.parse(readFileSync(join(dir, 'mntns'), 'utf8')) as Omit<HostNamespaces, 'dir'>;
    return typeof rec.id === 'string' && typeof rec.init?.pid === 'number' ? { ...rec, dir } : undefined;
  } catch {
    return undefined;
  }
}

export function namespacesOf(labDir: string): HostNamespaces[] {
  const hostsDir = join(labDir, 'hosts');
  if (!existsSync(hostsDir)) return [];
  return readdirSync(hostsDir)
    .map((h) => namespaceOf(labDir, h))
    .filter((ns): ns is HostNamespaces => !!ns);
}

/** A host's namespaces, as they are now, for a process the lab did not make (a test's host-init). */
export function namespacesOfProcess(pid: number, dir: string): HostNamespaces | undefined {
  const id = nsIdentity(pid);
  const start = startTime(pid);
  return id && start ? { id, dir, init: { pid, start } } : undefined;
}

/**
 * A host's identity: its mount and its network namespace together. Unique only while they live
 * (see HostNamespaces).
 */
export function nsIdentity(pid: number | string): string | undefined {
  try {
    return `${readlinkSync(`/proc/${pid}/ns/mnt`)} ${readlinkSync(`/proc/${pid}/ns/net`)}`;
  } catch {
    return undefined;
  }
}

/** /proc/PID/stat from field 3 (state) on, past the command name (which may hold spaces); [] when gone. */
export function procStat(pid: number | string): string[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return [];
  }
}

/** A process's start time (field 22 of /proc/PID/stat): with its pid, it names one process. */
export function startTime(pid: number | string): string | undefined {
  return procStat(pid)[19];
}

/** Whether a process whose namespaces carry a host's numbers is in that host's namespaces. */
function isHosts(ns: HostNamespaces, pids: number[]): boolean {
  if (pids.includes(ns.init.pid) && startTime(ns.init.pid) === ns.init.start) return true;
  // Without its init, the host's mount table says: host-init binds the host's directories
  // (HOSTDIR/root, …) in, and a mount's root is that path within its filesystem.
  const own = ns.dir.split('/').slice(-3).join('/');
  for (const pid of pids) {
    let mountinfo: string;
    try {
      mountinfo = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    } catch {
      continue;
    }
    return mountinfo.split('\n').some((line) => {
      const root = dirname(unescapeMountPath(line.split(' ')[3] ?? ''));
      return root.endsWith(`/${own}`) && ns.dir.endsWith(root);
    });
  }
  return false;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * The processes of hosts: those in a host's mount and network namespace, and, while such a host
 * lives, those that left its mount namespace for one of their own but share its network (a
 * plaintext scan in its private mount namespace).
 */
export function processesIn(hosts: HostNamespaces[]): number[] {
  const all = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map((e) => ({ pid: Number(e), id: nsIdentity(e) }))
    .filter((p): p is { pid: number; id: string } => !!p.id);
  const liveNets = new Set<string>();
  const members: number[] = [];
  for (const ns of hosts) {
    const pids = all.filter((p) => p.id === ns.id).map((p) => p.pid);
    if (!pids.length || !isHosts(ns, pids)) continue;
    members.push(...pids);
    liveNets.add(ns.id.split(' ')[1]!);
  }
  return [...new Set([...members, ...all.filter((p) => liveNets.has(p.id.split(' ')[1]!)).map((p) => p.pid)])];
}

/** Every process in these namespaces is ended; with the last one, their mounts go too. */
export async function killNamespaces(namespaces: HostNamespaces[]): Promise<void> {
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
