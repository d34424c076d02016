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
  INCUS_VERSION,
  IncusError,
  deleteIncusInstance,
  execStatusError,
  getInstance,
  launchInstance,
  listInstances,
  prepareExec,
  pushFile,
  renderInstance,
  startIncusInstance,
  stopIncusInstance,
  updateInstanceConfig,
  type InstanceFull,
  imageConfig,
} from './incus';

type Kind = 'bool' | 'string' | 'strings' | 'int';
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
  flags: Map<string, Value>;
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
  { name: 'help', short: 'h', kind: 'bool' },
  { name: 'version', kind: 'bool' },
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

function parseFlags(args: string[], specs: Flag[]): { values: Map<string, Value>; pos: string[] } {
  const values = new Map<string, Value>();
  const pos: string[] = [];
  const assign = (f: Flag, v: string | undefined) => {
    const label = f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
    if (f.kind === 'bool') values.set(f.name, v === undefined ? true : goBool(v, label));
    else if (f.kind === 'strings') values.set(f.name, [...((values.get(f.name) as string[] | undefined) ?? []), v!]);
    else if (f.kind === 'int') {
      if (!/^[+-]?\d+$/.test(v!))
        throw new IncusError(
          `invalid argument ${JSON.stringify(v)} for ${JSON.stringify(label)} flag: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`,
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
      if (v === undefined && f.kind !== 'bool') {
        if (i + 1 >= args.length) throw new IncusError(`flag needs an argument: --${name}`);
        v = args[++i];
      }
      assign(f, v);
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const f = specs.find((s) => s.short === c);
        if (!f) throw new IncusError(`unknown shorthand flag: '${c}' in ${a}`);
        if (f.kind === 'bool') {
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
  for (const f of specs) if (!values.has(f.name) && f.def !== undefined) values.set(f.name, f.def);
  return { values, pos };
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

/**
 * gopkg.in/yaml.v2: strings that YAML 1.1 reads as booleans, base-60 numbers or timestamps are
 * quoted, sequences are not indented.
 */
function goYaml(v: unknown): string {
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string' && YAML11.some((r) => r.test(x))) {
      const s = new Scalar(x);
      s.type = Scalar.QUOTE_DOUBLE;
      return s;
    }
    if (Array.isArray(x)) return x.map((y) => walk(y));
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    return x;
  };
  return YAML.stringify(walk(v), { indentSeq: false });
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
function renderTable(header: string[], rows: string[][]): string {
  const cols = Math.max(header.length, ...rows.map((r) => r.length));
  const lines = (c: string) => c.split('\n');
  const width = Array.from({ length: cols }, (_, i) =>
    Math.max(header[i]?.length ?? 0, ...rows.map((r) => Math.max(...lines(r[i] ?? '').map((l) => l.length)))),
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
      s += '|' + parts.join('|') + '|\n';
    }
    return s;
  };
  return sep + row(header, true) + sep + rows.map((r) => row(r, false) + sep).join('');
}

/** Go's encoding/csv. */
function csvLine(cells: string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) || /^[ \t]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',') + '\n';
}

const FORMATS = ['table', 'csv', 'json'];

/** cli.RenderTable for the formats mirrored: table, csv (no header), json. */
function render(format: string, header: string[], rows: string[][], raw: unknown): string {
  if (format === 'table') return renderTable(header, rows);
  if (format === 'csv') return rows.map(csvLine).join('');
  return goJson(raw);
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

const COLUMNS: Record<string, Column> = {
  '4': { name: 'IPV4', needsData: true, data: ipColumn('inet') },
  '6': { name: 'IPV6', needsData: true, data: ipColumn('inet6') },
  n: { name: 'NAME', data: (i) => i.name },
  S: { name: 'SNAPSHOTS', needsData: true, data: () => '0' },
  s: { name: 'STATE', data: (i) => i.status.toUpperCase() },
  t: { name: 'TYPE', data: (i) => i.type.toUpperCase() },
};

/** Shorthand characters only (no config-key columns, no commas). */
function parseColumns(spec: string): Column[] {
  return [...spec].map((ch) => {
    const col = COLUMNS[ch];
    if (!col) throw new IncusError(`Unknown column shorthand char '${ch}' in '${spec}'`);
    return col;
  });
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

/** Config keys all have a dot; a filter without one is a name or a shorthand (status=, type=, ipv4=…). */
function checkFilter(filter: string): void {
  const eq = filter.indexOf('=');
  if (eq < 0 || !filter.slice(0, eq).includes('.')) notMirrored(`the list filter ${filter} (only config KEY=VALUE filters)`);
}

/** list.go's shouldShow for KEY=VALUE filters on expanded config (a regexp, or the value itself). */
function shouldShow(filters: string[], i: InstanceFull): boolean {
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = filter.slice(0, eq);
    const value = filter.slice(eq + 1);
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
  }
  return true;
}

async function list(c: Ctx): Promise<number> {
  const columns = parseColumns(str(c, 'columns'));
  const format = str(c, 'format');
  if (!FORMATS.includes(format)) notMirrored(`--format ${format} (only ${FORMATS.join(', ')})`);
  c.args.forEach(checkFilter);
  const all = await Promise.all(listInstances(c.labDir, c.project).map((r) => renderInstance(c.labDir, r)));
  const shown = all.filter((i) => shouldShow(c.args, i));
  const rows = shown.map((i) => columns.map((col) => col.data(i))).sort(naturalCompare);
  // Without a column that needs them, the client asks for recursion=1 objects: no state, snapshots or backups.
  const raw = columns.some((col) => col.needsData) ? shown : shown.map((i) => ({ ...i, state: null }));
  out(
    render(
      format,
      columns.map((col) => col.name),
      rows,
      raw,
    ),
  );
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Commands

async function create(c: Ctx, launch: boolean): Promise<number> {
  const image = c.args[0]!;
  const ic = image.indexOf(':');
  if (ic >= 0 && !['images', 'local'].includes(image.slice(0, ic))) throw new IncusError(`The remote ${JSON.stringify(image.slice(0, ic))} doesn't exist`);
  if (c.args[1] === undefined) notMirrored('an instance without a name');
  const name = remoteName(c.args[1]);
  const config: Record<string, string> = {};
  for (const entry of strings(c, 'config')) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw new IncusError(`Bad key=value pair: ${JSON.stringify(entry)}`);
    config[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  out(`${launch ? 'Launching' : 'Creating'} ${name}\n`);
  await launchInstance(c.labDir, { project: c.project, image, name, vm: bool(c, 'vm'), config, start: launch });
  return 0;
}

async function info(c: Ctx): Promise<number> {
  if (!c.args.length) notMirrored('server information (`incus info` without an instance)');
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, remoteName(c.args[0]!)));
  const s = i.state!;
  let t = `Name: ${i.name}\nDescription: ${i.description}\nStatus: ${i.status.toUpperCase()}\nType: ${i.type}\nArchitecture: ${i.architecture}\n`;
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
  const env: Record<string, string> = {};
  if (process.env.TERM) env.TERM = process.env.TERM;
  for (const e of strings(c, 'env')) {
    const eq = e.indexOf('=');
    env[eq < 0 ? e : e.slice(0, eq)] = eq < 0 ? '' : e.slice(eq + 1);
  }
  const argv = await prepareExec(c.labDir, c.project, remoteName(c.args[0]!), { argv: c.args.slice(1), env, cwd: str(c, 'cwd') });
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
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

/** strconv.ParseInt(s, 0, 0) for octal (a leading 0) and decimal; 0x, 0o and 0b are not mirrored. */
function goParseInt(s: string): number {
  if (/^[+-]?0[xXoObB]/.test(s)) notMirrored(`--mode ${s} (only octal and decimal)`);
  const m = /^([+-]?)(0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m) throw new IncusError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  const body = m[2]!.replace(/_/g, '');
  const v = body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
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
    notMirrored('recursive push (-r)');
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
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, remoteName(c.args[0]!)));
  out(`${(bool(c, 'expanded') ? i.expanded_config : i.config)[c.args[1]!] ?? ''}\n`);
  return 0;
}

async function configSet(c: Ctx, unset: boolean): Promise<number> {
  const name = remoteName(c.args[0]!);
  if (unset) await updateInstanceConfig(c.labDir, c.project, name, {}, [c.args[1]!]);
  else await updateInstanceConfig(c.labDir, c.project, name, keyValues(c.args.slice(1)));
  return 0;
}

async function configShow(c: Ctx): Promise<number> {
  const i = await renderInstance(c.labDir, getInstance(c.labDir, c.project, remoteName(c.args[0]!)));
  out(goYaml(instancePut(i, bool(c, 'expanded'))));
  return 0;
}

function action(kind: 'start' | 'stop'): (c: Ctx) => Promise<number> {
  return async (c) => {
    if (c.args.length > 1) notMirrored(`incus ${kind} of more than one instance`);
    const arg = c.args[0]!;
    try {
      await (kind === 'start' ? startIncusInstance : stopIncusInstance)(c.labDir, c.project, remoteName(arg));
    } catch (e) {
      if (!(e instanceof IncusError) || e.message === 'Instance not found') throw e;
      throw new IncusError(`${e.message}\nTry \`incus info --show-log ${arg}\` for more info`);
    }
    return 0;
  };
}

async function del(c: Ctx): Promise<number> {
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
  { name: 'vm', kind: 'bool' },
];
const EXPANDED: Flag = { name: 'expanded', short: 'e', kind: 'bool' };

const COMMANDS: Cmd[] = [
  { name: 'launch', use: 'launch [<remote>:]<image> [<remote>:][<name>] [flags]', flags: CREATE_FLAGS, min: 1, max: 2, run: (c) => create(c, true) },
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
      // The real default is ns46tSL; L (LOCATION) is dropped when not clustered.
      { name: 'columns', short: 'c', kind: 'string', def: 'ns46tS' },
      { name: 'format', short: 'f', kind: 'string', def: 'table' },
    ],
    min: 0,
    max: -1,
    run: list,
  },
  { name: 'info', use: 'info [<remote>:][<instance>] [flags]', flags: [{ name: 'show-log', kind: 'bool' }], min: 0, max: 1, run: info },
  {
    name: 'exec',
    use: 'exec [<remote>:]<instance> [flags] [--] <command line>',
    flags: [
      { name: 'env', kind: 'strings' },
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
      { name: 'get', use: 'get [<remote>:][<instance>] <key> [flags]', flags: [EXPANDED], min: 2, max: 2, run: configGet },
      { name: 'set', use: 'set [<remote>:][<instance>] <key>=<value>... [flags]', min: 2, max: -1, run: (c) => configSet(c, false) },
      { name: 'unset', use: 'unset [<remote>:][<instance>] <key> [flags]', min: 2, max: 2, run: (c) => configSet(c, true) },
      { name: 'show', use: 'show [<remote>:][<instance>[/<snapshot>]] [flags]', flags: [EXPANDED], min: 1, max: 1, run: configShow },
    ],
  },
  { name: 'start', use: 'start [<remote>:]<instance> [[<remote>:]<instance>...] [flags]', min: 1, max: -1, run: action('start') },
  { name: 'stop', use: 'stop [<remote>:]<instance> [[<remote>:]<instance>...] [flags]', min: 1, max: -1, run: action('stop') },
  {
    name: 'delete',
    aliases: ['rm', 'remove'],
    use: 'delete [<remote>:]<instance> [[<remote>:]<instance>...] [flags]',
    flags: [{ name: 'force', short: 'f', kind: 'bool' }],
    min: 1,
    max: -1,
    run: del,
  },
];

function usage(cmd?: Cmd, parent?: Cmd): string {
  if (!cmd) {
    const names = COMMANDS.map((c) => `  ${c.name.padEnd(10)}${c.aliases ? ` (aliases: ${c.aliases.join(', ')})` : ''}`).join('\n');
    return `Description:\n  Command line client for Incus (LAB STAND-IN: the subset listed below)\n\nUsage:\n  incus [command]\n\nAvailable Commands:\n${names}\n\nGlobal Flags:\n  -h, --help      Print help\n      --project   Override the source project\n      --version   Print version number\n\nUse "incus [command] --help" for more information about a command.\n`;
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
      const { values } = parseFlags(rest, GLOBAL_FLAGS);
      if (values.get('version') === true) {
        out(`${INCUS_VERSION}\n`);
        return 0;
      }
      if (top.name === 'help' || !top.name) {
        out(usage());
        return 0;
      }
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
    const { values, pos } = parseFlags(rest, [...GLOBAL_FLAGS, ...(cmd.flags ?? [])]);
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
    return await cmd.run!({ labDir, project, flags: values, args: pos, cmd });
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
