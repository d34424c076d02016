// Lab stand-in for the `incus` command (see lab/standins/incus for the subset it mirrors). Flags
// are parsed like Cobra/pflag (interspersed, `--` ends them); output, messages and exit codes
// follow lxc/incus cmd/incus (main.go, launch.go, create.go, list.go, info.go, exec.go, file.go,
// config.go, action.go, delete.go) and internal/cmd/table.go.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { posix } from 'node:path';
import YAML, { Scalar } from 'yaml';
import {
  INCUS_PROJECTS,
  INCUS_VERSION,
  IncusError,
  deleteIncusInstance,
  execStatusError,
  getInstance,
  launchInstance,
  listInstances,
  parseByteSize,
  prepareExec,
  pushFile,
  renderInstance,
  restartIncusInstance,
  startIncusInstance,
  stopIncusInstance,
  updateInstanceConfig,
  type InstanceFull,
  imageConfig,
} from './incus';

type Kind = 'bool' | 'string' | 'strings' | 'int' | 'uint' | 'optstring';
type Value = string | string[] | number | boolean;

interface Flag {
  name: string;
  short?: string;
  kind: Kind;
  def?: Value;
}

interface Ctx {
  labDir: string;
  project: string;
  quiet: boolean;
  flags: Map<string, Value>;
  /** Flags given on the command line (not defaults). */
  given: Set<string>;
  args: string[];
  cmd: Cmd;
}

interface Cmd {
  name: string;
  aliases?: string[];
  use: string;
  flags?: Flag[];
  min?: number;
  max?: number;
  run?: (c: Ctx) => Promise<number>;
  sub?: Cmd[];
}

const GLOBAL_FLAGS: Flag[] = [
  { name: 'project', kind: 'string' },
  { name: 'quiet', short: 'q', kind: 'bool' },
  { name: 'force-local', kind: 'bool' },
  { name: 'debug', kind: 'bool' },
  { name: 'verbose', short: 'v', kind: 'bool' },
  { name: 'help', short: 'h', kind: 'bool' },
  { name: 'version', kind: 'bool' },
  { name: 'sub-commands', kind: 'bool' },
];

/** Real commands outside the mirrored subset. */
const NOT_MIRRORED = [
  'admin',
  'alias',
  'cluster',
  'console',
  'copy',
  'cp',
  'debug',
  'export',
  'import',
  'manpage',
  'monitor',
  'move',
  'mv',
  'network',
  'operation',
  'pause',
  'profile',
  'project',
  'publish',
  'query',
  'rebuild',
  'remote',
  'rename',
  'resume',
  'snapshot',
  'storage',
  'top',
  'warning',
  'webui',
];

const out = (s: string) => process.stdout.write(s);

// ---------------------------------------------------------------------------------------------
// pflag

function goBool(v: string, label: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new IncusError(
    `invalid argument ${JSON.stringify(v)} for ${JSON.stringify(label)} flag: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
  );
}

function parseFlags(args: string[], specs: Flag[]): { values: Map<string, Value>; given: Set<string>; pos: string[] } {
  const values = new Map<string, Value>();
  const given = new Set<string>();
  const pos: string[] = [];
  const assign = (f: Flag, v: string | undefined) => {
    given.add(f.name);
    const label = f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
    if (f.kind === 'bool') values.set(f.name, v === undefined ? true : goBool(v, label));
    else if (f.kind === 'optstring') values.set(f.name, v ?? String(f.def ?? ''));
    else if (f.kind === 'strings') values.set(f.name, [...((values.get(f.name) as string[] | undefined) ?? []), v!]);
    else if (f.kind === 'int' || f.kind === 'uint') {
      const ok = f.kind === 'int' ? /^[+-]?\d+$/.test(v!) : /^\+?\d+$/.test(v!);
      if (!ok)
        throw new IncusError(
          `invalid argument ${JSON.stringify(v)} for ${JSON.stringify(label)} flag: strconv.Parse${f.kind === 'int' ? 'Int' : 'Uint'}: parsing ${JSON.stringify(v)}: invalid syntax`,
        );
      values.set(f.name, Number(v));
    } else values.set(f.name, v!);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      pos.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const f = specs.find((s) => s.name === name);
      if (!f) throw new IncusError(`unknown flag: --${name}`);
      let v = eq < 0 ? undefined : body.slice(eq + 1);
      if (v === undefined && f.kind !== 'bool' && f.kind !== 'optstring') {
        if (i + 1 >= args.length) throw new IncusError(`flag needs an argument: --${name}`);
        v = args[++i];
      }
      assign(f, v);
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const f = specs.find((s) => s.short === c);
        if (!f) throw new IncusError(`unknown shorthand flag: '${c}' in ${a}`);
        if (f.kind === 'bool' || f.kind === 'optstring') {
          if (a[j + 1] === '=') {
            assign(f, a.slice(j + 2));
            break;
          }
          assign(f, undefined);
          continue;
        }
        let v = a.slice(j + 1);
        if (v.startsWith('=')) v = v.slice(1);
        else if (v === '') {
          if (i + 1 >= args.length) throw new IncusError(`flag needs an argument: '${c}' in -${c}`);
          v = args[++i]!;
        }
        assign(f, v);
        break;
      }
    } else pos.push(a);
  }
  for (const f of specs) if (!values.has(f.name) && f.def !== undefined && f.kind !== 'optstring') values.set(f.name, f.def);
  return { values, given, pos };
}

/** Cobra's Find: the first argument that is not a flag (or a global flag's value) names the command. */
function takeCommand(args: string[], known: Cmd[]): { cmd?: Cmd; name?: string; rest: string[] } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      const f = a.startsWith('--') ? GLOBAL_FLAGS.find((g) => g.name === a.slice(2)) : GLOBAL_FLAGS.find((g) => g.short === a.slice(1));
      if (f && f.kind !== 'bool' && !a.includes('=')) i++;
      continue;
    }
    return { cmd: known.find((c) => c.name === a || c.aliases?.includes(a)), name: a, rest: [...args.slice(0, i), ...args.slice(i + 1)] };
  }
  return { rest: args };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function remoteName(arg: string): string {
  const i = arg.indexOf(':');
  if (i < 0) return arg;
  const remote = arg.slice(0, i);
  if (remote === 'local') return arg.slice(i + 1);
  if (remote === 'images') throw new IncusError("The remote isn't a private server");
  throw new IncusError(`The remote ${JSON.stringify(remote)} doesn't exist`);
}

function str(c: Ctx, name: string): string {
  return (c.flags.get(name) as string | undefined) ?? '';
}

function bool(c: Ctx, name: string): boolean {
  return c.flags.get(name) === true;
}

function strings(c: Ctx, name: string): string[] {
  return (c.flags.get(name) as string[] | undefined) ?? [];
}

function num(c: Ctx, name: string): number {
  return c.flags.get(name) as number;
}

/** `incus image info`: cmd/incus/image.go's layout, for the images the lab knows (a NixOS image). */
async function imageInfo(c: Ctx): Promise<number> {
  const image = c.args[0]!;
  const type = bool(c, 'vm') ? 'virtual-machine' : 'container';
  const props = imageConfig(image, type);
  if (!props) throw new IncusError('Image not found');
  const fp = props['volatile.base_image']!;
  const alias = image.replace(/^[^:]*:/, '');
  out(
    [
      `Fingerprint: ${fp}`,
      'Size: 512.34MiB',
      `Architecture: ${props['image.architecture'] === 'arm64' ? 'aarch64' : 'x86_64'}`,
      `Type: ${type}`,
      'Public: yes',
      'Timestamps:',
      '    Created: 2025/06/01 00:00 UTC',
      '    Uploaded: 2025/06/01 00:00 UTC',
      '    Expires: never',
      '    Last used: never',
      'Properties:',
      ...Object.entries(props)
        .filter(([k]) => k.startsWith('image.'))
        .map(([k, v]) => `    ${k.slice(6)}: ${v}`),
      'Aliases:',
      `    - ${alias}`,
      'Cached: no',
      'Auto update: disabled',
      'Profiles:',
      '    - default',
      '',
    ].join('\n'),
  );
  return 0;
}

function notMirrored(what: string): never {
  throw new IncusError(`(lab stand-in) ${what} is not mirrored`);
}

/** Go's json.Encoder: compact, HTML characters escaped, a trailing newline. */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

const YAML11 = [
  /^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/,
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/,
  /^\d{4}-\d{1,2}-\d{1,2}(?:[Tt ]\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d*)?(?:Z|[+-]\d{1,2}(?::\d{2})?)?)?$/,
];
const TIME_KEYS = new Set(['created_at', 'last_used_at', 'started_at']);

/**
 * gopkg.in/yaml.v2: strings that YAML 1.1 reads as booleans, base-60 numbers or timestamps are
 * quoted (time.Time values are not), sequences are not indented.
 */
function goYaml(v: unknown): string {
  const walk = (x: unknown, key = ''): unknown => {
    if (typeof x === 'string' && !TIME_KEYS.has(key) && YAML11.some((r) => r.test(x))) {
      const s = new Scalar(x);
      s.type = Scalar.QUOTE_DOUBLE;
      return s;
    }
    if (Array.isArray(x)) return x.map((y) => walk(y));
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y, k)]));
    return x;
  };
  return YAML.stringify(walk(v), { indentSeq: false });
}

function yamlInstance(i: InstanceFull): unknown {
  return { ...i, backups: [], snapshots: [], state: i.state ? { ...i.state, network: i.state.network ?? {} } : null };
}

function localDate(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  const tz = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? 'UTC';
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())} ${tz}`;
}

const isZero = (t: string) => t.startsWith('0001-01-01');

/** units.GetByteSizeStringIEC / GetByteSizeString. */
function byteSize(n: number, iec: boolean): string {
  const base = iec ? 1024 : 1000;
  if (n < base) return `${n}B`;
  let v = n;
  for (const u of iec ? ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['kB', 'MB', 'GB', 'TB', 'PB']) {
    v /= base;
    if (v < base) return `${v.toFixed(2)}${u}`;
  }
  return `${v.toFixed(2)}${iec ? 'EiB' : 'EB'}`;
}

/** olekukonko/tablewriter with incus's settings (ASCII, header centred, rows left, lines between rows). */
function renderTable(header: string[] | undefined, rows: string[][], compact: boolean): string {
  const cols = Math.max(header?.length ?? 0, ...rows.map((r) => r.length));
  const lines = (c: string) => c.split('\n');
  const width = Array.from({ length: cols }, (_, i) =>
    Math.max(header?.[i]?.length ?? 0, ...rows.map((r) => Math.max(...lines(r[i] ?? '').map((l) => l.length)))),
  );
  const sep = '+' + width.map((w) => '-'.repeat(w + 2)).join('+') + '+\n';
  const center = (s: string, w: number) => ' '.repeat(Math.floor((w - s.length) / 2)) + s + ' '.repeat(Math.ceil((w - s.length) / 2));
  const row = (cells: string[], head: boolean) => {
    const h = Math.max(1, ...cells.map((c) => lines(c).length));
    let s = '';
    for (let l = 0; l < h; l++) {
      const parts = width.map((w, i) => {
        const text = lines(cells[i] ?? '')[l] ?? '';
        return ' ' + (head ? center(text, w) : text.padEnd(w)) + ' ';
      });
      s += compact ? parts.join('').trimEnd() + '\n' : '|' + parts.join('|') + '|\n';
    }
    return s;
  };
  if (compact) return (header ? row(header, true) : '') + rows.map((r) => row(r, false)).join('');
  return sep + (header ? row(header, true) + sep : '') + rows.map((r) => row(r, false) + sep).join('');
}

/** Go's encoding/csv. */
function csvLine(cells: string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) || /^[ \t]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',') + '\n';
}

/** cli.RenderTable: table, compact, csv, json, yaml, with the ,noheader / ,header options. */
function render(format: string, header: string[], rows: string[][], raw: unknown, rawYaml: unknown = raw): string {
  const [fmt, ...options] = format.split(',');
  const head = options.includes('noheader') ? undefined : header;
  switch (fmt) {
    case 'table':
      return renderTable(head, rows, false);
    case 'compact':
      return renderTable(head, rows, true);
    case 'csv':
      return (options.includes('header') ? csvLine(header) : '') + rows.map(csvLine).join('');
    case 'json':
      return goJson(raw);
    case 'yaml':
      return goYaml(rawYaml);
    default:
      throw new IncusError(`Invalid format ${JSON.stringify(fmt)}`);
  }
}

function naturalCompare(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = a[i]!.localeCompare(b[i]!, 'en', { numeric: true });
    if (c) return c;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// list

interface Column {
  name: string;
  data: (i: InstanceFull) => string;
  /** The column reads the instance's state or snapshots (list.go's NeedsState/NeedsSnapshots). */
  needsData?: true;
}

function ipColumn(family: string): (i: InstanceFull) => string {
  return (i) => {
    if (!i.state?.network || i.status_code === 102) return '';
    const ips: string[] = [];
    for (const [net, n] of Object.entries(i.state.network)) {
      if (n.type === 'loopback') continue;
      for (const a of n.addresses) if (a.family === family && !['link', 'local'].includes(a.scope)) ips.push(`${a.address} (${net})`);
    }
    return ips.sort().reverse().join('\n');
  };
}

const active = (i: InstanceFull) => i.status_code !== 102 && i.status_code !== 112 && i.state !== null;

const COLUMNS: Record<string, Column> = {
  '4': { name: 'IPV4', needsData: true, data: ipColumn('inet') },
  '6': { name: 'IPV6', needsData: true, data: ipColumn('inet6') },
  a: { name: 'ARCHITECTURE', data: (i) => i.architecture },
  b: { name: 'STORAGE POOL', data: (i) => Object.values(i.expanded_devices).find((d) => d.type === 'disk' && d.path === '/')?.pool ?? '' },
  c: { name: 'CREATED AT', data: (i) => (isZero(i.created_at) ? '' : localDate(i.created_at)) },
  d: { name: 'DESCRIPTION', data: (i) => i.description },
  D: { name: 'DISK USAGE', needsData: true, data: () => '' },
  e: { name: 'PROJECT', data: (i) => i.project },
  f: { name: 'BASE IMAGE', data: (i) => (i.config['volatile.base_image'] ?? '').slice(0, 12) },
  F: { name: 'BASE IMAGE', data: (i) => i.config['volatile.base_image'] ?? '' },
  l: { name: 'LAST USED AT', data: (i) => (isZero(i.last_used_at) ? '' : localDate(i.last_used_at)) },
  m: { name: 'MEMORY USAGE', needsData: true, data: (i) => (active(i) && i.state!.memory.usage > 0 ? byteSize(i.state!.memory.usage, true) : '') },
  M: {
    name: 'MEMORY USAGE%',
    needsData: true,
    data: (i) => {
      const limit = i.expanded_config['limits.memory'];
      const total = limit && !limit.includes('%') ? parseByteSize(limit) : undefined;
      return active(i) && i.state!.memory.usage > 0 && total ? `${((i.state!.memory.usage / total) * 100).toFixed(1)}%` : '';
    },
  },
  n: { name: 'NAME', data: (i) => i.name },
  N: { name: 'PROCESSES', needsData: true, data: (i) => (active(i) ? String(i.state!.processes) : '') },
  p: { name: 'PID', needsData: true, data: (i) => (active(i) ? String(i.state!.pid) : '') },
  P: { name: 'PROFILES', data: (i) => i.profiles.join('\n') },
  S: { name: 'SNAPSHOTS', needsData: true, data: () => '0' },
  s: { name: 'STATE', data: (i) => i.status.toUpperCase() },
  t: { name: 'TYPE', data: (i) => i.type.toUpperCase() + (i.ephemeral ? ' (EPHEMERAL)' : '') },
  u: { name: 'CPU USAGE', needsData: true, data: (i) => (active(i) && i.state!.cpu.usage > 0 ? `${Math.floor(i.state!.cpu.usage / 1e9)}s` : '') },
  U: { name: 'STARTED AT', needsData: true, data: (i) => (i.state && !isZero(i.state.started_at) ? localDate(i.state.started_at) : '') },
};

function parseColumns(spec: string, isDefault: boolean): Column[] {
  if (!isDefault && spec.includes('L') && !spec.includes('.')) throw new IncusError("Can't specify column L when not clustered");
  const cols: Column[] = [];
  for (const entry of spec.replace(/L/g, '').split(',')) {
    if (entry === '') throw new IncusError(`Empty column entry (redundant, leading or trailing command) in '${spec}'`);
    if (!entry.includes('.')) {
      for (const ch of entry) {
        const col = COLUMNS[ch];
        if (!col) throw new IncusError(`Unknown column shorthand char '${ch}' in '${entry}'`);
        cols.push(col);
      }
      continue;
    }
    let cc = entry.split(':');
    let type = 'config';
    if ((cc[0] === 'config' || cc[0] === 'devices') && cc.length > 1) [type, ...cc] = cc as [string, ...string[]];
    if (cc.length > 3) throw new IncusError(`Invalid config key column format (too many fields): '${entry}'`);
    const key = cc[0]!;
    const name = cc.length > 1 ? cc[1]! : key;
    if (cc.length > 1 && name === '' && cc.length !== 3)
      throw new IncusError(`Invalid name in '${entry}', empty string is only allowed when defining maxWidth`);
    const max = cc.length > 2 ? (Number(cc[2]) === 0 ? name.length : Number(cc[2])) : -1;
    const cut = (v: string) => (max > 0 && v.length > max ? v.slice(0, max) : v);
    cols.push({
      name,
      data:
        type === 'config'
          ? (i) => cut(i.config[key] ?? i.expanded_config[key] ?? '')
          : (i) => {
              const [dev, k] = key.split('.', 2) as [string, string];
              return cut(i.devices[dev]?.[k] ?? i.expanded_devices[dev]?.[k] ?? '');
            },
    });
  }
  return cols;
}

function dotPrefixMatch(short: string, full: string): boolean {
  const f = full.split('.');
  const s = short.split('.');
  return f.length === s.length && f.every((m, i) => m.startsWith(s[i]!));
}

function anchored(v: string): RegExp | undefined {
  try {
    return new RegExp(v.includes('^') || v.includes('$') ? v : `^${v}$`);
  } catch {
    return undefined;
  }
}

function shorthandMatch(key: string, value: string, i: InstanceFull): boolean {
  const one = (q: string): boolean => {
    switch (key.toLowerCase()) {
      case 'type':
        return i.type.toLowerCase() === q.toLowerCase();
      case 'state':
      case 'status':
        return i.status.toLowerCase() === q.toLowerCase();
      case 'architecture':
        return i.architecture.toLowerCase() === q.toLowerCase();
      case 'location':
        return i.location.toLowerCase() === q.toLowerCase();
      case 'ipv4':
      case 'ipv6': {
        const fam = key.toLowerCase() === 'ipv4' ? 'inet' : 'inet6';
        return Object.values(i.state?.network ?? {}).some((n) => n.addresses.some((a) => a.family === fam && (a.address === q || inCidr(a.address, q))));
      }
      default:
        return false;
    }
  };
  return value.split(',').some(one);
}

function inCidr(ip: string, cidr: string): boolean {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return false;
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = Number(m[2]);
  const size = 2 ** (32 - bits);
  return Math.floor(n(ip) / size) === Math.floor(n(m[1]!) / size);
}

function shouldShow(filters: string[], i: InstanceFull): boolean {
  for (const filter of filters) {
    if (filter.includes('=')) {
      const eq = filter.indexOf('=');
      const key = filter.slice(0, eq);
      const value = filter.slice(eq + 1);
      if (shorthandMatch(key, value, i)) continue;
      let found = false;
      for (const [ck, cv] of Object.entries(i.expanded_config)) {
        if (!dotPrefixMatch(key, ck)) continue;
        const r = anchored(value);
        if (!r) {
          if (value === cv) {
            found = true;
            break;
          }
          return false;
        }
        if (r.test(cv)) {
          found = true;
          break;
        }
      }
      if (i.expanded_config[key] === value) continue;
      if (!found) return false;
    } else {
      if (anchored(filter)?.test(i.name)) continue;
      if (!i.name.startsWith(filter)) return false;
    }
  }
  return true;
}

async function list(c: Ctx): Promise<number> {
  const allProjects = bool(c, 'all-projects');
  if (allProjects && c.given.has('project')) throw new IncusError("Can't specify --project with --all-projects");
  let filters = [...c.args];
  if (filters.length && filters[0]!.includes(':') && !filters[0]!.includes('=')) {
    const name = remoteName(filters[0]!);
    filters = filters.slice(1);
    if (name) filters.push(name);
  }
  const isDefault = !c.given.has('columns');
  let spec = isDefault && allProjects ? 'ens46tSL' : str(c, 'columns');
  if (bool(c, 'fast')) {
    if (!isDefault) throw new IncusError("Can't specify --fast with --columns");
    spec = allProjects ? 'ensacPt' : 'nsacPt';
  }
  const columns = parseColumns(spec, isDefault);
  const format = str(c, 'format');
  if (!['table', 'compact', 'csv', 'json', 'yaml'].includes(format.split(',')[0]!))
    throw new IncusError(`Invalid format ${JSON.stringify(format.split(',')[0])}`);
  filters = filters.map((f) => (f.startsWith('state=') ? `status=${f.slice(6)}` : f));
  const records = allProjects ? INCUS_PROJECTS.flatMap((p) => listInstances(c.labDir, p)) : listInstances(c.labDir, c.project);
  const all = await Promise.all(records.map((r) => renderInstance(c.labDir, r)));
  const shown = all.filter((i) => shouldShow(filters, i));
  const rows = shown.map((i) => columns.map((col) => col.data(i))).sort(naturalCompare);
  // Without a column that needs them, the client asks for recursion=1 objects: no state, snapshots or backups.
  const raw = columns.some((col) => col.needsData) ? shown : shown.map((i) => ({ ...i, state: null }));
  out(
    render(
      format,
      columns.map((col) => col.name),
      rows,
      raw,
      raw.map(yamlInstance),
    ),
  );
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Commands

function readStdinYaml(): Record<string, unknown> {
  if (process.stdin.isTTY) return {};
  try {
    const parsed = YAML.parse(readFileSync(0, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function create(c: Ctx, launch: boolean): Promise<number> {
  for (const f of ['device', 'network', 'storage', 'type', 'target', 'empty', 'console']) if (c.given.has(f)) notMirrored(`--${f}`);
  const image = c.args[0]!;
  const ic = image.indexOf(':');
  if (ic >= 0 && !['images', 'local'].includes(image.slice(0, ic))) throw new IncusError(`The remote ${JSON.stringify(image.slice(0, ic))} doesn't exist`);
  const name = c.args[1] !== undefined ? remoteName(c.args[1]) : undefined;
  const stdin = readStdinYaml();
  const config: Record<string, string> = { ...((stdin.config as Record<string, string> | undefined) ?? {}) };
  const envFile = str(c, 'environment-file');
  if (envFile) {
    let text: string;
    try {
      text = readFileSync(envFile, 'utf8');
    } catch (e) {
      throw new IncusError(
        `Can't read from environment file: open ${envFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      );
    }
    for (const line of text.split('\n').filter(Boolean)) {
      const eq = line.indexOf('=');
      config[`environment.${eq < 0 ? line : line.slice(0, eq)}`] = eq < 0 ? '' : line.slice(eq + 1);
    }
  }
  for (const entry of strings(c, 'config')) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw new IncusError(`Bad key=value pair: ${JSON.stringify(entry)}`);
    config[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const profiles = c.flags.has('profile') ? strings(c, 'profile') : bool(c, 'no-profiles') ? [] : (stdin.profiles as string[] | undefined);
  if (!c.quiet) out(name ? `${launch ? 'Launching' : 'Creating'} ${name}\n` : `${launch ? 'Launching' : 'Creating'} the instance\n`);
  const rec = await launchInstance(c.labDir, {
    project: c.project,
    image,
    name,
    vm: bool(c, 'vm'),
    config,
    profiles,
    description: str(c, 'description') || (stdin.description as string | undefined),
    ephemeral: bool(c, 'ephemeral'),
    start: launch,
  });
  if (!name) out(`Instance name is: ${rec.name}\n`);
  return 0;
}

async function info(c: Ctx): Promise<number> {
  if (!c.args.length) notMirrored('server information (`incus info` without an instance)');
  if (bool(c, 'resources') || bool(c, 'show-access')) notMirrored('--resources/--show-access');
  if (str(c, 'target')) throw new IncusError('--target cannot be used with instances');
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, remoteName(c.args[0]!)));
  const s = i.state!;
  let t = `Name: ${i.name}\nDescription: ${i.description}\nStatus: ${i.status.toUpperCase()}\nType: ${i.type}${i.ephemeral ? ' (ephemeral)' : ''}\nArchitecture: ${i.architecture}\n`;
  if (s.pid) t += `PID: ${s.pid}\n`;
  if (!isZero(i.created_at)) t += `Created: ${localDate(i.created_at)}\n`;
  if (!isZero(i.last_used_at)) t += `Last Used: ${localDate(i.last_used_at)}\n`;
  if (s.pid) {
    if (!isZero(s.started_at)) t += `Started: ${localDate(s.started_at)}\n`;
    t += `\nResources:\n  Processes: ${s.processes}\n`;
    if (s.cpu.usage) t += `  CPU usage:\n    CPU usage (in seconds): ${Math.floor(s.cpu.usage / 1e9)}\n`;
    if (s.memory.usage) t += `  Memory usage:\n    Memory (current): ${byteSize(s.memory.usage, true)}\n`;
    if (s.network) {
      t += '  Network usage:\n';
      for (const [name, n] of Object.entries(s.network)) {
        t += `    ${name}:\n      Type: ${n.type}\n      State: ${n.state.toUpperCase()}\n`;
        if (n.host_name) t += `      Host interface: ${n.host_name}\n`;
        if (n.hwaddr) t += `      MAC address: ${n.hwaddr}\n`;
        if (n.mtu) t += `      MTU: ${n.mtu}\n`;
        t += `      Bytes received: ${byteSize(n.counters.bytes_received ?? 0, false)}\n      Bytes sent: ${byteSize(n.counters.bytes_sent ?? 0, false)}\n`;
        t += `      Packets received: ${n.counters.packets_received ?? 0}\n      Packets sent: ${n.counters.packets_sent ?? 0}\n      IP addresses:\n`;
        for (const a of n.addresses) t += `        ${a.family}:${a.family === 'inet' ? '  ' : ' '}${a.address}/${a.netmask} (${a.scope})\n`;
      }
    }
  }
  if (bool(c, 'show-log')) t += `\nLog:\n\n\n`;
  out(t);
  return 0;
}

async function exec(c: Ctx): Promise<number> {
  const t = bool(c, 'force-interactive');
  const T = bool(c, 'force-noninteractive');
  if (t && T) throw new IncusError("You can't pass -t and -T at the same time");
  if (str(c, 'mode') !== 'auto' && (t || T)) throw new IncusError("You can't pass -t or -T at the same time as --mode");
  const env: Record<string, string> = {};
  if (process.env.TERM) env.TERM = process.env.TERM;
  for (const e of strings(c, 'env')) {
    const eq = e.indexOf('=');
    env[eq < 0 ? e : e.slice(0, eq)] = eq < 0 ? '' : e.slice(eq + 1);
  }
  const argv = await prepareExec(c.labDir, c.project, remoteName(c.args[0]!), {
    argv: c.args.slice(1),
    env,
    cwd: str(c, 'cwd'),
    user: num(c, 'user'),
    group: num(c, 'group'),
  });
  const child = spawn(argv[0]!, argv.slice(1), { stdio: [bool(c, 'disable-stdin') ? 'ignore' : 'inherit', 'inherit', 'inherit'] });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const status = code ?? 128 + (signal ? constants.signals[signal] : 0);
      const error = execStatusError(status);
      if (error) process.stderr.write(`Error: ${error}\n`);
      resolve(status);
    });
  });
}

/** strconv.ParseInt(s, 0, 0). */
function goParseInt(s: string): number {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m) throw new IncusError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  const body = m[2]!.replace(/_/g, '');
  const v = /^0[xX]/.test(body)
    ? parseInt(body.slice(2), 16)
    : /^0[oO]/.test(body)
      ? parseInt(body.slice(2), 8)
      : /^0[bB]/.test(body)
        ? parseInt(body.slice(2), 2)
        : /^0/.test(body)
          ? parseInt(body || '0', 8)
          : parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}

function goClean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

async function filePush(c: Ctx): Promise<number> {
  const target = c.args[c.args.length - 1]!;
  const slash = target.indexOf('/');
  if (slash < 0) throw new IncusError(`Invalid target ${target}`);
  const targetPath = goClean('/' + target.slice(slash + 1));
  const targetIsDir = target.endsWith('/') || targetPath === '/';
  const instance = remoteName(target.slice(0, slash));
  const sources = c.args.slice(0, -1).map((s) => (s === '-' ? s : goClean(s)));
  let mode: number | undefined;
  let modeFlag = str(c, 'mode');
  if (modeFlag) {
    if (modeFlag.length === 3) modeFlag = '0' + modeFlag;
    mode = goParseInt(modeFlag) & 0o777;
  }
  const uid = num(c, 'uid');
  const gid = num(c, 'gid');
  if (bool(c, 'recursive')) {
    if (uid !== -1 || gid !== -1 || modeFlag) throw new IncusError("Can't supply uid/gid/mode in recursive mode");
    for (const source of sources)
      await pushFile(c.labDir, c.project, instance, { source, target: targetPath, targetIsDir: true, createDirs: bool(c, 'create-dirs'), recursive: true });
    return 0;
  }
  if (sources.length > 1 && !targetIsDir) throw new IncusError('Missing target directory');
  for (const source of sources) {
    await pushFile(c.labDir, c.project, instance, {
      source,
      target: targetPath,
      targetIsDir,
      mode,
      uid: uid >= 0 ? uid : undefined,
      gid: gid >= 0 ? gid : undefined,
      createDirs: bool(c, 'create-dirs'),
    });
  }
  return 0;
}

/** getConfig (cmd/incus/utils.go): KEY VALUE, or KEY=VALUE..., "-" reading stdin. */
function keyValues(args: string[]): Record<string, string> {
  const stdin = () => (process.stdin.isTTY ? '-' : readFileSync(0, 'utf8'));
  if (args.length === 2 && !args[0]!.includes('=')) return { [args[0]!]: args[1] === '-' ? stdin() : args[1]! };
  const values: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) throw new IncusError(`Invalid key=value configuration: ${arg}`);
    const v = arg.slice(eq + 1);
    values[arg.slice(0, eq)] = v === '-' ? stdin() : v;
  }
  return values;
}

function instancePut(i: InstanceFull, expanded: boolean): unknown {
  return {
    architecture: i.architecture,
    config: expanded ? i.expanded_config : i.config,
    devices: expanded ? i.expanded_devices : i.devices,
    ephemeral: i.ephemeral,
    profiles: i.profiles,
    stateful: i.stateful,
    description: i.description,
  };
}

async function configGet(c: Ctx): Promise<number> {
  if (c.args.length < 2) notMirrored('server configuration');
  if (bool(c, 'property')) notMirrored('--property');
  if (str(c, 'target')) throw new IncusError('--target cannot be used with instances');
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, remoteName(c.args[0]!)));
  out(`${(bool(c, 'expanded') ? i.expanded_config : i.config)[c.args[1]!] ?? ''}\n`);
  return 0;
}

async function configSet(c: Ctx, unset: boolean): Promise<number> {
  if (bool(c, 'property')) notMirrored('--property');
  const args = unset ? [...c.args, ''] : c.args;
  const onlyKv = args.every((a) => a.includes('='));
  const isConfig = (v: string) => (v.split(':').pop() ?? '').includes('.');
  if (onlyKv || isConfig(args[0]!) || (args.length === 2 && !args.some((a) => a.includes('=')))) notMirrored('server configuration');
  if (str(c, 'target')) throw new IncusError('--target cannot be used with instances');
  const name = remoteName(args[0]!);
  const keys = keyValues(args.slice(1));
  if (unset) await updateInstanceConfig(c.labDir, c.project, name, {}, Object.keys(keys));
  else await updateInstanceConfig(c.labDir, c.project, name, keys);
  return 0;
}

async function configShow(c: Ctx): Promise<number> {
  if (!c.args.length) notMirrored('server configuration');
  if (str(c, 'target')) throw new IncusError('--target cannot be used with instances');
  const name = remoteName(c.args[0]!);
  if (name.includes('/')) notMirrored('snapshots');
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, name));
  out(goYaml(instancePut(i, bool(c, 'expanded'))));
  return 0;
}

function action(kind: 'start' | 'stop' | 'restart'): (c: Ctx) => Promise<number> {
  return async (c) => {
    if (bool(c, 'all')) notMirrored('--all');
    if (str(c, 'console')) notMirrored('--console');
    if (!c.args.length) {
      out(usage(c.cmd));
      return 0;
    }
    const run = (n: string) => (kind === 'start' ? startIncusInstance : kind === 'stop' ? stopIncusInstance : restartIncusInstance)(c.labDir, c.project, n);
    const results = await Promise.all(
      c.args.map(async (arg) => {
        try {
          await run(remoteName(arg));
          return undefined;
        } catch (e) {
          if (!(e instanceof IncusError)) throw e;
          const notFound = e.message === 'Instance not found';
          return { arg, e: new IncusError(notFound ? e.message : `${e.message}\nTry \`incus info --show-log ${arg}\` for more info`) };
        }
      }),
    );
    const failed = results.filter((r) => r !== undefined);
    if (c.args.length === 1 && failed.length) throw failed[0]!.e;
    if (!failed.length) return 0;
    for (const f of failed) for (const line of `error: ${f.e.message}`.split('\n')) process.stderr.write(`${f.arg}: ${line}\n`);
    process.stderr.write('\n');
    throw new IncusError(`Some instances failed to ${kind}`);
  };
}

async function del(c: Ctx): Promise<number> {
  if (bool(c, 'interactive')) notMirrored('--interactive');
  for (const arg of c.args) {
    const name = remoteName(arg);
    try {
      getInstance(c.labDir, c.project, name);
    } catch (e) {
      throw new IncusError(`Failed checking instance exists "local:${name}": ${(e as Error).message}`);
    }
  }
  for (const arg of c.args) await deleteIncusInstance(c.labDir, c.project, remoteName(arg), bool(c, 'force'));
  return 0;
}

const CREATE_FLAGS: Flag[] = [
  { name: 'config', short: 'c', kind: 'strings' },
  { name: 'profile', short: 'p', kind: 'strings' },
  { name: 'device', short: 'd', kind: 'strings' },
  { name: 'ephemeral', short: 'e', kind: 'bool' },
  { name: 'environment-file', kind: 'string' },
  { name: 'network', short: 'n', kind: 'string' },
  { name: 'storage', short: 's', kind: 'string' },
  { name: 'type', short: 't', kind: 'string' },
  { name: 'target', kind: 'string' },
  { name: 'no-profiles', kind: 'bool' },
  { name: 'empty', kind: 'bool' },
  { name: 'vm', kind: 'bool' },
  { name: 'description', kind: 'string' },
];
const ACTION_FLAGS: Flag[] = [
  { name: 'all', kind: 'bool' },
  { name: 'console', kind: 'optstring', def: 'console' },
];
const STOP_FLAGS: Flag[] = [...ACTION_FLAGS, { name: 'force', short: 'f', kind: 'bool' }, { name: 'timeout', kind: 'int', def: -1 }];

const COMMANDS: Cmd[] = [
  {
    name: 'launch',
    use: 'launch [<remote>:]<image> [<remote>:][<name>] [flags]',
    flags: [...CREATE_FLAGS, { name: 'console', kind: 'optstring', def: 'console' }],
    min: 1,
    max: 2,
    run: (c) => create(c, true),
  },
  {
    name: 'create',
    aliases: ['init'],
    use: 'create [<remote>:]<image> [<remote>:][<name>] [flags]',
    flags: CREATE_FLAGS,
    min: 1,
    max: 2,
    run: (c) => create(c, false),
  },
  {
    name: 'list',
    aliases: ['ls'],
    use: 'list [<remote>:] [<filter>...] [flags]',
    flags: [
      { name: 'columns', short: 'c', kind: 'string', def: 'ns46tSL' },
      { name: 'format', short: 'f', kind: 'string', def: 'table' },
      { name: 'fast', kind: 'bool' },
      { name: 'all-projects', kind: 'bool' },
    ],
    min: 0,
    max: -1,
    run: list,
  },
  {
    name: 'info',
    use: 'info [<remote>:][<instance>] [flags]',
    flags: [
      { name: 'show-access', kind: 'bool' },
      { name: 'show-log', kind: 'bool' },
      { name: 'resources', kind: 'bool' },
      { name: 'target', kind: 'string' },
    ],
    min: 0,
    max: 1,
    run: info,
  },
  {
    name: 'exec',
    use: 'exec [<remote>:]<instance> [flags] [--] <command line>',
    flags: [
      { name: 'env', kind: 'strings' },
      { name: 'mode', kind: 'string', def: 'auto' },
      { name: 'force-interactive', short: 't', kind: 'bool' },
      { name: 'force-noninteractive', short: 'T', kind: 'bool' },
      { name: 'disable-stdin', short: 'n', kind: 'bool' },
      { name: 'user', kind: 'uint', def: 0 },
      { name: 'group', kind: 'uint', def: 0 },
      { name: 'cwd', kind: 'string' },
    ],
    min: 2,
    max: -1,
    run: exec,
  },
  {
    name: 'file',
    use: 'file [command]',
    sub: [
      {
        name: 'push',
        use: 'push <source path>... [<remote>:]<instance>/<path> [flags]',
        flags: [
          { name: 'recursive', short: 'r', kind: 'bool' },
          { name: 'create-dirs', short: 'p', kind: 'bool' },
          { name: 'uid', kind: 'int', def: -1 },
          { name: 'gid', kind: 'int', def: -1 },
          { name: 'mode', kind: 'string' },
        ],
        min: 2,
        max: -1,
        run: filePush,
      },
      ...['create', 'delete', 'edit', 'mount', 'pull'].map((name) => ({
        name,
        use: name,
        min: 0,
        max: -1,
        run: async () => notMirrored(`incus file ${name}`),
      })),
    ],
  },
  {
    name: 'image',
    use: 'image [command]',
    sub: [{ name: 'info', use: 'info [<remote>:]<image> [flags]', flags: [{ name: 'vm', kind: 'bool' }], min: 1, max: 1, run: imageInfo }],
  },
  {
    name: 'config',
    use: 'config [command]',
    sub: [
      {
        name: 'get',
        use: 'get [<remote>:][<instance>] <key> [flags]',
        flags: [
          { name: 'expanded', short: 'e', kind: 'bool' },
          { name: 'property', short: 'p', kind: 'bool' },
          { name: 'target', kind: 'string' },
        ],
        min: 1,
        max: 2,
        run: configGet,
      },
      {
        name: 'set',
        use: 'set [<remote>:][<instance>] <key>=<value>... [flags]',
        flags: [
          { name: 'property', short: 'p', kind: 'bool' },
          { name: 'target', kind: 'string' },
        ],
        min: 1,
        max: -1,
        run: (c) => configSet(c, false),
      },
      {
        name: 'unset',
        use: 'unset [<remote>:][<instance>] <key> [flags]',
        flags: [
          { name: 'property', short: 'p', kind: 'bool' },
          { name: 'target', kind: 'string' },
        ],
        min: 1,
        max: 2,
        run: (c) => configSet(c, true),
      },
      {
        name: 'show',
        use: 'show [<remote>:][<instance>[/<snapshot>]] [flags]',
        flags: [
          { name: 'expanded', short: 'e', kind: 'bool' },
          { name: 'target', kind: 'string' },
        ],
        min: 0,
        max: 1,
        run: configShow,
      },
      ...['device', 'edit', 'metadata', 'template', 'trust', 'uefi'].map((name) => ({
        name,
        use: name,
        min: 0,
        max: -1,
        run: async () => notMirrored(`incus config ${name}`),
      })),
    ],
  },
  {
    name: 'start',
    use: 'start [<remote>:]<instance> [[<remote>:]<instance>...] [flags]',
    flags: [...ACTION_FLAGS, { name: 'stateless', kind: 'bool' }],
    min: 0,
    max: -1,
    run: action('start'),
  },
  {
    name: 'stop',
    use: 'stop [<remote>:]<instance> [[<remote>:]<instance>...] [flags]',
    flags: [...STOP_FLAGS, { name: 'stateful', kind: 'bool' }],
    min: 0,
    max: -1,
    run: action('stop'),
  },
  { name: 'restart', use: 'restart [<remote>:]<instance> [[<remote>:]<instance>...] [flags]', flags: STOP_FLAGS, min: 0, max: -1, run: action('restart') },
  {
    name: 'delete',
    aliases: ['rm', 'remove'],
    use: 'delete [<remote>:]<instance> [[<remote>:]<instance>...] [flags]',
    flags: [
      { name: 'force', short: 'f', kind: 'bool' },
      { name: 'interactive', short: 'i', kind: 'bool' },
    ],
    min: 1,
    max: -1,
    run: del,
  },
  {
    name: 'version',
    use: 'version [<remote>:]',
    min: 0,
    max: 1,
    run: async () => {
      out(`Client version: ${INCUS_VERSION}\nServer version: ${INCUS_VERSION}\n`);
      return 0;
    },
  },
];

function usage(cmd?: Cmd, parent?: Cmd): string {
  if (!cmd) {
    const names = COMMANDS.map((c) => `  ${c.name.padEnd(10)}${c.aliases ? ` (aliases: ${c.aliases.join(', ')})` : ''}`).join('\n');
    return `Description:\n  Command line client for Incus (LAB STAND-IN: the subset listed below)\n\nUsage:\n  incus [command]\n\nAvailable Commands:\n${names}\n\nGlobal Flags:\n      --force-local   Force using the local unix socket\n      --project       Override the source project\n  -q, --quiet         Don't show progress information\n\nUse "incus [command] --help" for more information about a command.\n`;
  }
  const path = parent ? `incus ${parent.name} ${cmd.use}` : `incus ${cmd.use}`;
  const subs = cmd.sub ? `\n\nAvailable Commands:\n${cmd.sub.map((s) => `  ${s.name}`).join('\n')}` : '';
  const flags = (cmd.flags ?? []).map((f) => `  ${f.short ? `-${f.short}, ` : '    '}--${f.name}`).join('\n');
  return `Usage:\n  ${path}${subs}${flags ? `\n\nFlags:\n${flags}` : ''}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const labDir = process.env.LAB_DIR;
  try {
    const top = takeCommand(argv, COMMANDS);
    let cmd = top.cmd;
    let rest = top.rest;
    let parent: Cmd | undefined;
    if (!cmd) {
      const { values } = parseFlags(rest, [...GLOBAL_FLAGS, { name: 'all', kind: 'bool' }]);
      if (values.get('version') === true) {
        out(`${INCUS_VERSION}\n`);
        return 0;
      }
      if (top.name === 'help' || !top.name) {
        out(usage());
        return 0;
      }
      if (NOT_MIRRORED.includes(top.name)) notMirrored(`"incus ${top.name}"`);
      throw new IncusError(`unknown command ${JSON.stringify(top.name)} for "incus"`);
    }
    if (cmd.sub) {
      const s = takeCommand(rest, cmd.sub);
      if (!s.cmd) {
        parseFlags(s.rest, GLOBAL_FLAGS);
        if (s.name) throw new IncusError(`unknown command ${JSON.stringify(s.name)} for "incus ${cmd.name}"`);
        out(usage(cmd));
        return 0;
      }
      parent = cmd;
      cmd = s.cmd;
      rest = s.rest;
    }
    const { values, given, pos } = parseFlags(rest, [...GLOBAL_FLAGS, ...(cmd.flags ?? [])]);
    if (values.get('help') === true) {
      out(usage(cmd, parent));
      return 0;
    }
    const max = cmd.max ?? -1;
    if (pos.length < (cmd.min ?? 0) || (max !== -1 && pos.length > max)) {
      out(usage(cmd, parent));
      if (pos.length === 0) return 0;
      throw new IncusError('Invalid number of arguments');
    }
    if (!labDir) throw new IncusError('(lab stand-in) LAB_DIR is not set: it names the running lab, whose instances this incus manages');
    const project = (values.get('project') as string | undefined) || process.env.INCUS_PROJECT || 'default';
    return await cmd.run!({ labDir, project, quiet: values.get('quiet') === true, flags: values, given, args: pos, cmd });
  } catch (e) {
    if (!(e instanceof IncusError)) throw e;
    process.stderr.write(`Error: ${e.message}\n`);
    return e.exitCode;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`Error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
