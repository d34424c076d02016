import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, posix } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { PROJECT_ROOT, parseIncusBytes } from './harness';
import { hostDir, killNamespaces, namespaceOf, processesIn, procStat, readLabIndex, removeHost, sleep, startInstance } from './hosts';
import { LAB_SUBNET } from './net';

// The lab's Incus: a registry of instances under $LAB_DIR/incus/<project>/<name>.json. A blank
// instance is a lab host made on demand (hosts.ts startInstance: own mount, UTS and network
// namespaces, empty /nix, only an agent); a host-backed one (cc-nix-test) is a lab host the lab
// started itself. Messages, exit codes and JSON follow lxc/incus (cmd/incus, cmd/incusd,
// cmd/incus-agent, shared/api).

export const INCUS_PROJECTS = ['default', 'terraform-ci'];
export const INCUS_VERSION = '6.0.4';
const FIRST_ADDRESS = 100;
const ZERO_TIME = '0001-01-01T00:00:00Z';
/** last_used_at of an instance that never started (upstream test/suites/basic.sh). */
const NEVER_USED = '1970-01-01T00:00:00Z';
const NIXOS_PATH = '/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_PROFILE_DEVICES: Record<string, Record<string, string>> = {
  eth0: { name: 'eth0', network: 'incusbr0', type: 'nic' },
  root: { path: '/', pool: 'default', type: 'disk' },
};
const CONFIG_PREFIXES = [
  'user.',
  'environment.',
  'image.',
  'volatile.',
  'limits.',
  'security.',
  'boot.',
  'raw.',
  'snapshots.',
  'migration.',
  'cloud-init.',
  'linux.',
  'nvidia.',
  'agent.',
  'cluster.',
  'oci.',
];

export type InstanceType = 'container' | 'virtual-machine';

/** An error as the real client prints it (`Error: MESSAGE`), with its exit status. */
export class IncusError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface InstanceRecord {
  name: string;
  project: string;
  type: InstanceType;
  /** The lab host (hosts/<host>) behind the instance. */
  host: string;
  backing: 'blank' | 'host';
  /** Its address on the lab bridge. */
  address: string;
  architecture: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  profiles: string[];
  description: string;
  createdAt: string;
  lastUsedAt: string;
  startedAt?: string;
  /** The memory it booted with (limits.memory, or raw.qemu's -m, at the last start). */
  bootMemory?: string;
}

export interface HostInstanceSpec {
  project: string;
  name: string;
  /** The running lab host that is this instance (e.g. "cc-ci"). */
  host: string;
  type: InstanceType;
  config?: Record<string, string>;
  createdAt?: Date | string;
  description?: string;
  /** Its lab-bridge address; defaults to the host's in lab.json. */
  address?: string;
  /** The memory it booted with, when that is not what its config says now. */
  bootMemory?: string;
}

export interface LaunchOptions {
  project: string;
  image: string;
  name: string;
  vm?: boolean;
  config?: Record<string, string>;
  /** launch (true) or init/create (false). */
  start?: boolean;
}

export interface StateNetworkAddress {
  family: string;
  address: string;
  netmask: string;
  scope: string;
}

export interface StateNetwork {
  addresses: StateNetworkAddress[];
  counters: Record<string, number>;
  hwaddr: string;
  host_name: string;
  mtu: number;
  state: string;
  type: string;
}

export interface InstanceState {
  status: string;
  status_code: number;
  disk: Record<string, { usage: number; total: number }>;
  memory: { usage: number; usage_peak: number; total: number; swap_usage: number; swap_usage_peak: number };
  network: Record<string, StateNetwork> | null;
  pid: number;
  processes: number;
  cpu: { usage: number; allocated_time: number };
  started_at: string;
  os_info: null;
}

/** api.InstanceFull, in Go's field order (encoding/json keeps struct order). */
export interface InstanceFull {
  architecture: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  ephemeral: boolean;
  profiles: string[];
  stateful: boolean;
  description: string;
  created_at: string;
  expanded_config: Record<string, string>;
  expanded_devices: Record<string, Record<string, string>>;
  name: string;
  status: string;
  status_code: number;
  last_used_at: string;
  location: string;
  type: string;
  project: string;
  backups: null;
  state: InstanceState | null;
  snapshots: null;
}

// ---------------------------------------------------------------------------------------------
// Registry

function registryDir(labDir: string, project?: string): string {
  return project ? join(labDir, 'incus', project) : join(labDir, 'incus');
}

function recordFile(labDir: string, project: string, name: string): string {
  return join(registryDir(labDir, project), `${name}.json`);
}

export function checkProject(project: string, prefix = ''): void {
  if (!INCUS_PROJECTS.includes(project)) throw new IncusError(`${prefix}Project not found`);
}

export function findInstance(labDir: string, project: string, name: string): InstanceRecord | undefined {
  const f = recordFile(labDir, project, name);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as InstanceRecord) : undefined;
}

export function getInstance(labDir: string, project: string, name: string): InstanceRecord {
  checkProject(project);
  const rec = findInstance(labDir, project, name);
  if (!rec) throw new IncusError('Instance not found');
  return rec;
}

export function saveInstance(labDir: string, rec: InstanceRecord): void {
  mkdirSync(registryDir(labDir, rec.project), { recursive: true });
  const f = recordFile(labDir, rec.project, rec.name);
  writeFileSync(`${f}.tmp`, JSON.stringify(rec, null, 2) + '\n');
  renameSync(`${f}.tmp`, f);
}

function allInstances(labDir: string): InstanceRecord[] {
  return INCUS_PROJECTS.flatMap((p) => listInstances(labDir, p));
}

/** The project's instances, sorted by name as incusd returns them. */
export function listInstances(labDir: string, project: string): InstanceRecord[] {
  checkProject(project);
  const dir = registryDir(labDir, project);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as InstanceRecord)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Serialises changes to the registry between concurrent incus commands. */
export async function withLock<T>(labDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(registryDir(labDir), '.lock');
  mkdirSync(registryDir(labDir), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), `${process.pid}\n`);
      break;
    } catch {
      const holder = Number(readFileSafe(join(lock, 'pid')));
      if (holder && !alive(holder)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new IncusError(`(lab stand-in) the registry lock ${lock} is held by pid ${holder || '?'}`);
      else await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readFileSafe(f: string): string {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

export function isRunning(labDir: string, rec: InstanceRecord): boolean {
  const ns = namespaceOf(labDir, rec.host);
  return !!ns && processesIn([ns]).length > 0;
}

function hostPid(labDir: string, rec: InstanceRecord): number {
  return Number(readFileSafe(join(hostDir(labDir, rec.host), 'pid')));
}

function nowIso(): string {
  return new Date().toISOString();
}

function architecture(): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
}

function hwaddr(): string {
  return `00:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

function portName(address: string): string {
  return `vh${address.split('.').pop()}`;
}

function volatileKeys(type: InstanceType, mac: string): Record<string, string> {
  const uuid = randomUUID();
  return {
    'volatile.cloud-init.instance-id': randomUUID(),
    'volatile.eth0.hwaddr': mac,
    'volatile.last_state.power': 'STOPPED',
    'volatile.uuid': uuid,
    'volatile.uuid.generation': uuid,
    ...(type === 'virtual-machine' ? { 'volatile.vsock_id': String(3 + (randomBytes(4).readUInt32BE() % 2_000_000_000)) } : {}),
  };
}

/** Registers a lab host the lab started itself (cc-nix-test = cc-ci) as an instance. */
export async function registerHostInstance(labDir: string, spec: HostInstanceSpec): Promise<InstanceRecord> {
  checkProject(spec.project);
  const address = spec.address ?? readLabIndex(labDir).hosts.find((h) => h.name === spec.host)?.labAddress;
  if (!address) throw new IncusError(`(lab stand-in) lab host ${spec.host} has no lab address`);
  const pid = Number(readFileSafe(join(hostDir(labDir, spec.host), 'pid')));
  let mac = '';
  if (pid) {
    const r = await execa('nsenter', ['--target', String(pid), '--net', '--', 'cat', '/sys/class/net/eth0/address'], { reject: false });
    mac = r.exitCode === 0 ? String(r.stdout).trim() : '';
  }
  const createdAt = spec.createdAt ? new Date(spec.createdAt).toISOString() : nowIso();
  const rec: InstanceRecord = {
    name: spec.name,
    project: spec.project,
    type: spec.type,
    host: spec.host,
    backing: 'host',
    address,
    architecture: architecture(),
    config: { ...volatileKeys(spec.type, mac || hwaddr()), 'volatile.last_state.power': 'RUNNING', ...(spec.config ?? {}) },
    devices: {},
    profiles: ['default'],
    description: spec.description ?? '',
    createdAt,
    lastUsedAt: createdAt,
    startedAt: createdAt,
  };
  rec.bootMemory = spec.bootMemory ?? bootMemoryOf(labDir, rec);
  await withLock(labDir, async () => saveInstance(labDir, rec));
  return rec;
}

/**
 * What memory a VM gets when it starts: limits.memory, unless raw.qemu passes its own -m
 * (qemu takes the last -m it is given, and raw.qemu comes after Incus's own arguments).
 */
export function bootMemoryOf(labDir: string, rec: InstanceRecord): string | undefined {
  const config = expandedConfig(rec, labDir);
  const m = /(?:^|\s)-m\s+(?:size=)?(\d+)([MG]?)\b/.exec(config['raw.qemu'] ?? '');
  if (m) return `${m[1]}${m[2] === 'G' ? 'GiB' : 'MiB'}`;
  return config['limits.memory'];
}

/** instance.ValidName (internal/instance): a hostname. */
function validName(name: string): void {
  const bad = (why: string) => new IncusError(`Invalid instance name: ${why}`);
  if (name.length < 1 || name.length > 63) throw bad('Name must be 1-63 characters long');
  if (name.startsWith('-')) throw bad('Name must not start with "-" character');
  if (name.endsWith('-')) throw bad('Name must not end with "-" character');
  if (/^[0-9]/.test(name)) throw bad('Name must not start with a digit');
  if (!/^[a-zA-Z0-9-]+$/.test(name)) throw bad('Name can only contain alphanumeric and hyphen characters');
}

export function validateConfig(config: Record<string, string>): void {
  for (const key of Object.keys(config).sort()) {
    if (!CONFIG_PREFIXES.some((p) => key.startsWith(p) && key.length > p.length)) throw new IncusError(`Invalid config: Unknown configuration key: ${key}`);
  }
  // internal/instance/config.go: a size by units.ParseByteSizeString, or a percentage; never 0.
  const memory = config['limits.memory'];
  if (memory !== undefined && memory !== '') {
    const pct = /^(\d+)%$/.exec(memory);
    const bytes = pct ? Number(pct[1]) : parseIncusBytes(memory);
    if (bytes === undefined) throw new IncusError(`Invalid config: Invalid value for "limits.memory": Invalid value: ${memory}`);
    if (bytes === 0) throw new IncusError(`Invalid config: Invalid value for "limits.memory": Memory limit can't be 0${pct ? '%' : ''}`);
  }
}

/** The images this lab knows: NixOS, on the images: remote (or cached locally). */
export function imageConfig(image: string, type: InstanceType): Record<string, string> | undefined {
  if (!/nixos/i.test(image)) return undefined;
  const release = /(\d{2}\.\d{2}|unstable)/.exec(image)?.[1] ?? 'unstable';
  const serial = '20250601_01:02';
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  return {
    'image.architecture': arch,
    'image.description': `Nixos ${release} ${arch} (${serial})`,
    'image.os': 'Nixos',
    'image.release': release,
    ...(type === 'virtual-machine' ? { 'image.requirements.secureboot': 'false' } : {}),
    'image.serial': serial,
    'image.type': type === 'virtual-machine' ? 'disk-kvm.img' : 'squashfs',
    'image.variant': 'default',
    'volatile.base_image': createHash('sha256').update(`${image}/${type}/${serial}`).digest('hex'),
  };
}

function allocateAddress(labDir: string): string {
  const used = new Set([...readLabIndex(labDir).hosts.map((h) => h.labAddress), ...allInstances(labDir).map((i) => i.address)]);
  for (let n = FIRST_ADDRESS; n < 255; n++) if (!used.has(`${LAB_SUBNET}.${n}`)) return `${LAB_SUBNET}.${n}`;
  throw new IncusError('(lab stand-in) no free address left on the lab bridge');
}

/** incus launch / init: the checks in incusd's instancesPost order, then the instance itself. */
export async function launchInstance(labDir: string, opts: LaunchOptions): Promise<InstanceRecord> {
  checkProject(opts.project, 'Failed loading project: ');
  const type: InstanceType = opts.vm ? 'virtual-machine' : 'container';
  return withLock(labDir, async () => {
    const name = opts.name;
    validName(name);
    const image = imageConfig(opts.image, type);
    if (!image) {
      const fp = opts.image.replace(/^[^:]*:/, '');
      throw new IncusError(
        `Failed instance creation: Failed getting remote image info: Failed getting image: The requested image couldn't be found for fingerprint ${JSON.stringify(fp)}`,
      );
    }
    const config = { ...image, ...volatileKeys(type, hwaddr()), ...(opts.config ?? {}), ...terraformConfig(labDir, opts.project) };
    try {
      validateConfig(config);
    } catch (e) {
      throw new IncusError(`Failed instance creation: Failed creating instance record: ${(e as Error).message}`);
    }
    if (findInstance(labDir, opts.project, name)) {
      throw new IncusError(
        'Failed instance creation: Failed creating instance record: Add instance info to the database: This "instances" entry already exists',
      );
    }
    const owner = allInstances(labDir).find((i) => i.host === name);
    if (owner || existsSync(hostDir(labDir, name))) {
      throw new IncusError(
        `(lab stand-in) cannot create ${name}: the lab host name is taken${owner ? ` by instance ${owner.name} in project ${owner.project}` : ''}`,
      );
    }
    const createdAt = nowIso();
    const rec: InstanceRecord = {
      name,
      project: opts.project,
      type,
      host: name,
      backing: 'blank',
      address: allocateAddress(labDir),
      architecture: architecture(),
      config,
      devices: {},
      profiles: ['default'],
      description: '',
      createdAt,
      lastUsedAt: NEVER_USED,
    };
    saveInstance(labDir, rec);
    if (opts.start !== false) await boot(labDir, rec);
    return rec;
  });
}

function assertBootable(rec: InstanceRecord): void {
  if (rec.backing === 'host') {
    throw new IncusError(`(lab stand-in) cannot start ${rec.name}: it is the lab host ${rec.host}, which only the lab boots (restart the lab)`);
  }
}

async function boot(labDir: string, rec: InstanceRecord): Promise<void> {
  assertBootable(rec);
  const { switchPid } = readLabIndex(labDir);
  // A port left from the previous boot goes with its namespace, but not always at once.
  await execa('nsenter', ['--target', String(switchPid), '--net', '--', 'ip', 'link', 'del', portName(rec.address)], { reject: false });
  try {
    // Disk devices that share a host directory appear inside, bind-mounted at their path.
    const shares = Object.values(expandedDevices(rec, labDir)).filter((d) => d.type === 'disk' && d.source && d.path && d.path !== '/');
    const spawned = await startInstance(
      labDir,
      rec.host,
      rec.address,
      shares.map((d) => `${d.source}:${d.path}`),
    );
    const mac = rec.config['volatile.eth0.hwaddr'];
    if (mac) await execa('nsenter', ['--target', String(spawned.pid), '--net', '--', 'ip', 'link', 'set', 'dev', 'eth0', 'address', mac]);
  } catch (e) {
    const ns = namespaceOf(labDir, rec.host);
    if (ns) await killNamespaces([ns]);
    throw new IncusError(`Failed to start instance ${JSON.stringify(rec.name)}: ${(e as Error).message}`);
  }
  await cloudInit(labDir, rec);
  rec.bootMemory = bootMemoryOf(labDir, rec);
  const now = nowIso();
  rec.startedAt = now;
  rec.lastUsedAt = now;
  rec.config['volatile.last_state.power'] = 'RUNNING';
  rec.config['volatile.eth0.host_name'] = portName(rec.address);
  saveInstance(labDir, rec);
}

/** cloud-init's write_files from cloud-init.user-data (instance or profile), on first boot. */
async function cloudInit(labDir: string, rec: InstanceRecord): Promise<void> {
  const data = expandedConfig(rec, labDir)['cloud-init.user-data'];
  if (!data || rec.config['volatile.cloud-init.done']) return;
  const doc = parseYaml(data) as { write_files?: { path: string; content?: string; permissions?: string }[] } | null;
  const pid = Number(readFileSafe(join(hostDir(labDir, rec.host), 'pid')));
  for (const f of doc?.write_files ?? []) {
    await execa(
      'nsenter',
      [
        '--target',
        String(pid),
        '--mount',
        '--root',
        '--',
        'sh',
        '-c',
        'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
        'write',
        f.path,
        f.permissions ?? '0644',
      ],
      {
        input: f.content ?? '',
      },
    );
  }
  rec.config['volatile.cloud-init.done'] = 'true';
}

async function halt(labDir: string, rec: InstanceRecord): Promise<void> {
  const ns = namespaceOf(labDir, rec.host);
  if (ns) await killNamespaces([ns]);
  rec.config['volatile.last_state.power'] = 'STOPPED';
  delete rec.config['volatile.eth0.host_name'];
  saveInstance(labDir, rec);
}

export async function startIncusInstance(labDir: string, project: string, name: string): Promise<void> {
  await withLock(labDir, async () => {
    const rec = getInstance(labDir, project, name);
    if (isRunning(labDir, rec)) throw new IncusError('The instance is already running');
    await boot(labDir, rec);
  });
}

export async function stopIncusInstance(labDir: string, project: string, name: string): Promise<void> {
  await withLock(labDir, async () => {
    const rec = getInstance(labDir, project, name);
    if (!isRunning(labDir, rec)) throw new IncusError('The instance is already stopped');
    await halt(labDir, rec);
  });
}

async function destroy(labDir: string, rec: InstanceRecord): Promise<void> {
  await removeHost(labDir, rec.host);
  rmSync(recordFile(labDir, rec.project, rec.name), { force: true });
}

/** incus delete: the client's checks (cmd/incus/delete.go), then the instance and its disk go. */
export async function deleteIncusInstance(labDir: string, project: string, name: string, force: boolean): Promise<void> {
  await withLock(labDir, async () => {
    let rec: InstanceRecord;
    try {
      rec = getInstance(labDir, project, name);
    } catch (e) {
      throw new IncusError(`Failed checking instance exists "local:${name}": ${(e as Error).message}`);
    }
    if (isRunning(labDir, rec)) {
      if (!force) throw new IncusError('The instance is currently running, stop it first or pass --force');
      await halt(labDir, rec);
    }
    await destroy(labDir, rec);
  });
}

/** incus config set/unset on an instance. */
export async function updateInstanceConfig(labDir: string, project: string, name: string, set: Record<string, string>, unset: string[] = []): Promise<void> {
  await withLock(labDir, async () => {
    const rec = getInstance(labDir, project, name);
    const config = { ...rec.config };
    for (const k of unset) {
      if (!(k in config)) throw new IncusError(`Can't unset key '${k}', it's not currently set`);
      delete config[k];
    }
    Object.assign(config, set);
    validateConfig(config);
    rec.config = config;
    saveInstance(labDir, rec);
  });
}

/** Lab-side: the memory a running instance booted with (a config change since needs a restart). */
export async function setBootMemory(labDir: string, project: string, name: string, size: string): Promise<void> {
  await withLock(labDir, async () => {
    const rec = getInstance(labDir, project, name);
    rec.bootMemory = size;
    saveInstance(labDir, rec);
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering (api.InstanceFull)

function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]!]),
  );
}

/** Go's time.Time in RFC 3339 with the fraction's trailing zeros dropped. */
export function goTime(iso: string | undefined): string {
  if (!iso) return ZERO_TIME;
  return iso.replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));
}

interface ProfileRecord {
  config?: Record<string, string>;
  devices?: Record<string, Record<string, string>>;
}

/** The project's default profile, lab-side: $LAB_DIR/incus/profiles/<project>/default.json {config, devices}. */
function profileRecord(labDir: string, project: string): ProfileRecord {
  const f = join(labDir, 'incus', 'profiles', project, 'default.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as ProfileRecord) : {};
}

export function profileConfig(labDir: string, project: string): Record<string, string> {
  return profileRecord(labDir, project).config ?? {};
}

export function setProfileConfig(labDir: string, project: string, config: Record<string, string>, devices?: Record<string, Record<string, string>>): void {
  const dir = join(labDir, 'incus', 'profiles', project);
  mkdirSync(dir, { recursive: true });
  const before = profileRecord(labDir, project);
  writeFileSync(
    join(dir, 'default.json'),
    JSON.stringify({ config: { ...before.config, ...config }, devices: { ...before.devices, ...devices } }, null, 2) + '\n',
  );
}

/**
 * The lab's stand-in for the Terraform that manages a project: config it applies to every
 * instance there, over what was asked for, as `terraform apply` would ($LAB_DIR/incus/terraform.json).
 */
export function terraformConfig(labDir: string, project: string): Record<string, string> {
  const f = join(labDir, 'incus', 'terraform.json');
  return existsSync(f) ? ((JSON.parse(readFileSync(f, 'utf8')) as Record<string, Record<string, string>>)[project] ?? {}) : {};
}

export function expandedConfig(rec: InstanceRecord, labDir?: string): Record<string, string> {
  return sorted({ ...(labDir ? profileConfig(labDir, rec.project) : {}), ...rec.config });
}

/** Profile devices, then the instance's own (ExpandInstanceDevices). */
export function expandedDevices(rec: InstanceRecord, labDir?: string): Record<string, Record<string, string>> {
  return sorted({ ...DEFAULT_PROFILE_DEVICES, ...(labDir ? profileRecord(labDir, rec.project).devices : {}), ...rec.devices });
}

export async function renderInstance(labDir: string, rec: InstanceRecord): Promise<InstanceFull> {
  const running = isRunning(labDir, rec);
  return {
    architecture: rec.architecture,
    config: sorted(rec.config),
    devices: sorted(rec.devices),
    ephemeral: false, // the lab makes no ephemeral instances
    profiles: rec.profiles,
    stateful: false,
    description: rec.description,
    created_at: goTime(rec.createdAt),
    expanded_config: expandedConfig(rec, labDir),
    expanded_devices: expandedDevices(rec, labDir),
    name: rec.name,
    status: running ? 'Running' : 'Stopped',
    status_code: running ? 103 : 102,
    last_used_at: goTime(rec.lastUsedAt),
    location: 'none',
    type: rec.type,
    project: rec.project,
    backups: null,
    state: await renderState(labDir, rec, running),
    snapshots: null,
  };
}

interface IpLink {
  ifname: string;
  flags?: string[];
  mtu?: number;
  link_type?: string;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
  stats64?: { rx?: Record<string, number>; tx?: Record<string, number> };
}

async function renderState(labDir: string, rec: InstanceRecord, running: boolean): Promise<InstanceState> {
  const memTotal = memoryTotal(rec);
  if (!running) {
    return {
      status: 'Stopped',
      status_code: 102,
      disk: {},
      memory: { usage: 0, usage_peak: 0, total: 0, swap_usage: 0, swap_usage_peak: 0 },
      network: null,
      pid: 0,
      processes: 0,
      cpu: { usage: 0, allocated_time: 0 },
      started_at: ZERO_TIME,
      os_info: null,
    };
  }
  const pid = hostPid(labDir, rec);
  const pids = processesIn([namespaceOf(labDir, rec.host)!]);
  let rss = 0;
  let ticks = 0;
  for (const p of pids) {
    const stat = procStat(p);
    ticks += Number(stat[11] ?? 0) + Number(stat[12] ?? 0);
    rss += Number(readFileSafe(`/proc/${p}/statm`).split(' ')[1] ?? 0) * 4096;
  }
  const network: Record<string, StateNetwork> = {};
  const r = await execa('nsenter', ['--target', String(pid), '--net', '--', 'ip', '-j', '-s', 'addr', 'show'], { reject: false });
  const links = r.exitCode === 0 ? (JSON.parse(String(r.stdout) || '[]') as IpLink[]) : [];
  for (const l of links) {
    const loopback = l.link_type === 'loopback';
    const rx = l.stats64?.rx ?? {};
    const tx = l.stats64?.tx ?? {};
    network[l.ifname] = {
      addresses: (l.addr_info ?? []).map((a) => ({
        family: a.family,
        address: a.local,
        netmask: String(a.prefixlen),
        scope: a.scope === 'host' ? 'local' : a.scope,
      })),
      counters: {
        bytes_received: rx.bytes ?? 0,
        bytes_sent: tx.bytes ?? 0,
        packets_received: rx.packets ?? 0,
        packets_sent: tx.packets ?? 0,
        errors_received: rx.errors ?? 0,
        errors_sent: tx.errors ?? 0,
        packets_dropped_outbound: tx.dropped ?? 0,
        packets_dropped_inbound: rx.dropped ?? 0,
      },
      hwaddr: loopback ? '' : (l.address ?? ''),
      host_name: l.ifname === 'eth0' ? (rec.config['volatile.eth0.host_name'] ?? '') : '',
      mtu: l.mtu ?? 0,
      state: l.flags?.includes('UP') ? 'up' : 'down',
      type: loopback ? 'loopback' : 'broadcast',
    };
  }
  return {
    status: 'Running',
    status_code: 103,
    disk: {},
    memory: { usage: rss, usage_peak: 0, total: memTotal, swap_usage: 0, swap_usage_peak: 0 },
    network: sorted(network),
    pid,
    processes: pids.length,
    cpu: { usage: Math.round((ticks / 100) * 1e9), allocated_time: cpuCount(rec) * 1e9 },
    started_at: goTime(rec.startedAt),
    os_info: null,
  };
}

/** The CPUs the instance may use: limits.cpu as a count, else a VM's default of 1 or the host's. */
function cpuCount(rec: InstanceRecord): number {
  const limit = rec.config['limits.cpu'];
  if (limit && /^\d+$/.test(limit)) return Number(limit);
  return rec.type === 'virtual-machine' ? 1 : cpus().length;
}

/**
 * The memory the running instance has: what limits.memory said when it booted (a VM takes a new
 * size only when it restarts), less what the guest kernel keeps for itself, as the VM agent's
 * MemTotal reads it. Without a limit a VM gets qemu's default of 1GiB.
 */
function memoryTotal(rec: InstanceRecord): number {
  const limit = rec.bootMemory ?? rec.config['limits.memory'];
  const parsed = limit && !limit.endsWith('%') ? parseIncusBytes(limit) : undefined;
  const reserved = (bytes: number) => (rec.type === 'virtual-machine' ? bytes - Math.round(bytes * 0.02) : bytes);
  if (parsed) return reserved(parsed);
  if (rec.type === 'virtual-machine') return reserved(1024 ** 3);
  const m = /MemTotal:\s+(\d+) kB/.exec(readFileSafe('/proc/meminfo'));
  return m ? Number(m[1]) * 1024 : 0;
}

// ---------------------------------------------------------------------------------------------
// exec and file push

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/**
 * The environment incusd and the VM agent give a command (PATH, HOME and USER for root, LANG,
 * environment.* config), with PATH as on NixOS and the harness root for the lab's stand-ins.
 */
export function execEnvironment(rec: InstanceRecord, req: ExecRequest, labDir?: string): Record<string, string> {
  const env: Record<string, string> = { ...(req.env ?? {}) };
  for (const [k, v] of Object.entries(expandedConfig(rec, labDir))) if (k.startsWith('environment.') && !(k.slice(12) in env)) env[k.slice(12)] = v;
  env.PATH ??= NIXOS_PATH;
  env.HOME ??= '/root';
  env.USER ??= 'root';
  env.LANG ??= 'C.UTF-8';
  env.CC_CI_HARNESS_ROOT ??= PROJECT_ROOT;
  return env;
}

/**
 * What incusd makes of a command's exit status (Wait in driver_lxc_cmd.go and driver_qemu_cmd.go):
 * 127 and 126 are also errors, which the client prints; the status itself is passed on either way.
 */
export function execStatusError(exitCode: number): string | undefined {
  return exitCode === 127 ? 'Command not found' : exitCode === 126 ? 'Command not executable' : undefined;
}

/**
 * Checks the instance runs and the command can start (as the agent's exec.Command would), and
 * returns the argv that runs it inside the instance's namespaces.
 */
export async function prepareExec(labDir: string, project: string, name: string, req: ExecRequest): Promise<string[]> {
  const rec = getInstance(labDir, project, name);
  if (!isRunning(labDir, rec)) throw new IncusError('Instance is not running');
  const env = execEnvironment(rec, req, labDir);
  const cwd = req.cwd || env.HOME || '/';
  const enter = ['nsenter', '--target', String(hostPid(labDir, rec)), '--mount', '--root', '--uts', '--net', '--'];
  const envArgs = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const cmd = req.argv[0]!;
  const check = await execa(
    enter[0]!,
    [
      ...enter.slice(1),
      ...envArgs,
      'sh',
      '-c',
      'cd -- "$1" 2>/dev/null || exit 3; case $2 in */*) [ -e "$2" ] || exit 4; [ -f "$2" ] && [ -x "$2" ] || exit 5 ;; *) command -v -- "$2" >/dev/null 2>&1 || exit 4 ;; esac',
      'sh',
      cwd,
      cmd,
    ],
    {
      reject: false,
      stdin: 'ignore',
    },
  );
  if (check.exitCode === 3) throw new IncusError(`chdir ${cwd}: no such file or directory`, 255);
  if (check.exitCode === 4) throw new IncusError(execStatusError(127)!, 127);
  if (check.exitCode === 5) throw new IncusError(execStatusError(126)!, 126);
  if (check.exitCode !== 0) throw new IncusError(`Failed to connect to instance: ${String(check.stderr).trim()}`);
  return [...enter, ...envArgs.slice(0, 2), `--chdir=${cwd}`, ...envArgs.slice(2), ...req.argv];
}

export interface PushRequest {
  /** A path on this machine, or "-" for stdin. */
  source: string;
  /** instance path (already cleaned, absolute) */
  target: string;
  targetIsDir: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  createDirs?: boolean;
}

const PUSH_SCRIPT = `
set -u
mkd=$1 path=$2 uid=$3 gid=$4 dmode=$5 mode=$6
if [ -n "$mkd" ]; then
  cur=
  IFS=/; set -f
  for part in \${mkd#/}; do
    cur="$cur/$part"
    if [ -e "$cur" ]; then
      [ -d "$cur" ] || { printf '%s is not a directory\\n' "\${cur#/}" >&2; exit 3; }
    else
      mkdir "$cur" && chown "$uid:$gid" "$cur" && chmod "$dmode" "$cur" || exit 1
    fi
  done
  unset IFS; set +f
fi
[ -z "$path" ] && exit 0
[ -d "$(dirname -- "$path")" ] || exit 4
[ -d "$path" ] && exit 5
cat > "$path" || exit 1
chown "$uid:$gid" "$path" && chmod "$mode" "$path"
`;

/** incus file push of one source (cmd/incus/file.go over the agent's SFTP). */
export async function pushFile(labDir: string, project: string, name: string, req: PushRequest): Promise<void> {
  const rec = getInstance(labDir, project, name);
  if (!isRunning(labDir, rec)) throw new IncusError('Instance is not running');
  let fd: number;
  if (req.source === '-') fd = 0;
  else {
    try {
      fd = openSync(req.source, 'r');
    } catch (e) {
      throw new IncusError(`open ${req.source}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
  }
  try {
    const st = fstatSync(fd);
    const pid = String(hostPid(labDir, rec));
    if (st.isDirectory()) throw new IncusError(`read ${req.source === '-' ? '/dev/stdin' : req.source}: is a directory`);
    const fname = req.source === '-' ? '/dev/stdin' : req.source;
    const path = req.targetIsDir ? posix.join(req.target, posix.basename(fname)) : req.target;
    const uid = req.uid ?? st.uid;
    const gid = req.gid ?? st.gid;
    const mode = (req.mode ?? st.mode) & 0o777;
    const mkd = req.createDirs ? posix.dirname(path) : '';
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'nsenter',
        [
          '--target',
          pid,
          '--mount',
          '--root',
          '--',
          'sh',
          '-c',
          PUSH_SCRIPT,
          'sh',
          mkd === '/' ? '' : mkd,
          path,
          String(uid),
          String(gid),
          '0755',
          mode.toString(8),
        ],
        {
          stdio: [fd, 'ignore', 'pipe'],
        },
      );
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (c) => {
        if (c === 3) return reject(new IncusError(err.trim()));
        if (c === 4) return reject(new IncusError('file does not exist'));
        if (c === 5) return reject(new IncusError(`sftp: "open ${path}: is a directory" (SSH_FX_FAILURE)`));
        if (c !== 0) return reject(new IncusError(err.trim() || `(lab stand-in) writing ${path} failed`));
        resolve();
      });
    });
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}
