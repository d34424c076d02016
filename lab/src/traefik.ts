// Lab stand-in for Traefik (see lab/standins/traefik for the subset it mirrors): entrypoints that
// take HTTP and TLS on one port (sniffed per connection, as Traefik's TCP router does), the file
// provider's dynamic configuration, certificates chosen by SNI and HTTP routing by Host.
import { execFile } from 'node:child_process';
import { type KeyObject, X509Certificate, createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

// ---------------------------------------------------------------------------------------------
// Logging: logrus text format, as Traefik v2 prints it.

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof LEVELS)[number];
export type LogFields = Record<string, string | number>;

function quote(v: string): string {
  return /^[A-Za-z0-9\-._/@^+]+$/.test(v) ? v : JSON.stringify(v);
}

function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off);
  return `${local}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

export function formatLogLine(level: LogLevel, msg: string, fields: LogFields = {}): string {
  const name = level === 'warn' ? 'warning' : level;
  const extra = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${quote(String(v))}`)
    .join('');
  return `time="${rfc3339(new Date())}" level=${name} msg=${quote(msg)}${extra}`;
}

function parseLevel(level: string | undefined): LogLevel | undefined {
  const l = (level ?? 'ERROR').toLowerCase();
  const n = l === 'warning' ? 'warn' : l;
  return (LEVELS as readonly string[]).includes(n) ? (n as LogLevel) : undefined;
}

type Logger = (level: LogLevel, msg: string, fields?: LogFields) => void;

// ---------------------------------------------------------------------------------------------
// Static configuration (CLI flags).

export interface Redirection {
  to: string;
  scheme: string;
  permanent: boolean;
  priority: number;
}
export interface EntryPointConfig {
  address: string;
  redirect?: Partial<Redirection>;
}
export interface TraefikOptions {
  /** name -> `[HOST]:PORT`; port 0 binds a free port (tests). */
  entrypoints: Record<string, string | EntryPointConfig>;
  /** The file provider's dynamic configuration (YAML). */
  dynamicFile?: string;
  /** Or a directory of them, merged (Traefik: filename and directory exclude each other). */
  dynamicDirectory?: string;
  /** Watch the dynamic file (Traefik's default: true). */
  watch?: boolean;
  /** TRACE|DEBUG|INFO|WARN|ERROR|FATAL|PANIC, case-insensitive; Traefik's default is ERROR. */
  logLevel?: string;
  /** One formatted line per call; default: stdout. */
  log?: (line: string) => void;
}

export class FlagError extends Error {}

type FlagKind = 'string' | 'bool' | 'int';
interface FlagTree {
  [k: string]: FlagTree | FlagKind;
}
const FLAGS: FlagTree = {
  entrypoints: {
    '*': {
      address: 'string',
      http: { redirections: { entrypoint: { to: 'string', scheme: 'string', permanent: 'bool', priority: 'int' } } },
    },
  },
  providers: { file: { filename: 'string', directory: 'string', watch: 'bool' } },
  log: { level: 'string' },
};

export const MAX_PRIORITY = 2 ** 31 - 2; // Traefik's default priority for entrypoint redirections (MaxInt32-1)

/** Parses Traefik's static-configuration flags (the subset); throws FlagError like paerser. */
export function parseTraefikFlags(argv: string[]): TraefikOptions {
  const eps: Record<string, EntryPointConfig> = {};
  const opts: TraefikOptions = { entrypoints: eps };
  const fail = (m: string): never => {
    throw new FlagError(`failed to decode configuration from flags: ${m}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!/^--?[^-]/.test(arg)) throw new FlagError(`command not found: ${arg}`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const path = (eq < 0 ? body : body.slice(0, eq)).split('.');
    let node: FlagTree | FlagKind = FLAGS;
    const names: string[] = [];
    for (const seg of path) {
      if (typeof node === 'string') return fail(`field not found, node: ${seg}`);
      const key: string | undefined = Object.keys(node).find((k) => k === seg.toLowerCase()) ?? (node['*'] ? '*' : undefined);
      if (key === undefined || seg === '') return fail(`field not found, node: ${seg}`);
      if (key === '*') names.push(seg);
      node = node[key]!;
    }
    if (typeof node !== 'string') return fail(`missing value for ${body}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (node === 'bool') value = 'true';
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else return fail(`missing value for ${body}`);
    if (node === 'bool' && !/^(true|false|1|0|t|f)$/i.test(value)) fail(`invalid boolean value "${value}" for ${body}`);
    if (node === 'int' && !/^-?\d+$/.test(value)) fail(`invalid integer value "${value}" for ${body}`);
    const bool = /^(true|1|t)$/i.test(value);
    const p = path.map((s) => s.toLowerCase()).join('.');
    if (p.startsWith('entrypoints.')) {
      const ep = (eps[names[0]!] ??= { address: '' });
      const leaf = p.slice(p.lastIndexOf('.') + 1);
      if (leaf === 'address') ep.address = value;
      else {
        const r = (ep.redirect ??= {});
        if (leaf === 'to') r.to = value;
        else if (leaf === 'scheme') r.scheme = value;
        else if (leaf === 'permanent') r.permanent = bool;
        else r.priority = Number(value);
      }
    } else if (p === 'providers.file.filename') opts.dynamicFile = value;
    else if (p === 'providers.file.directory') opts.dynamicDirectory = value;
    else if (p === 'providers.file.watch') opts.watch = bool;
    else opts.logLevel = value;
  }
  for (const [name, ep] of Object.entries(eps)) if (!ep.address) throw new FlagError(`entry point "${name}" has no address`);
  if (opts.dynamicFile && opts.dynamicDirectory) throw new FlagError('error using file configuration provider: filename and directory are mutually exclusive');
  // Traefik's default when no entrypoint is configured.
  if (Object.keys(eps).length === 0) eps.http = { address: ':80' };
  return opts;
}

function parseAddress(name: string, address: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})(?:\/tcp)?$/i.exec(address);
  if (!m) throw new Error(`error while building entryPoint ${name}: invalid address "${address}" (lab stand-in: [HOST]:PORT[/tcp])`);
  return { host: (m[1] ?? m[2]) || undefined, port: Number(m[3]) };
}

// ---------------------------------------------------------------------------------------------
// Rules: Host, HostRegexp (v3 regexp or v2 `{name:re}` template), Path, PathPrefix, PathRegexp,
// Method; combined with &&, ||, ! and parentheses.

export interface RequestInfo {
  host: string;
  path: string;
  method: string;
}
export type Matcher = (r: RequestInfo) => boolean;

function tokenize(rule: string): { t: string; v: string }[] {
  const out: { t: string; v: string }[] = [];
  let i = 0;
  while (i < rule.length) {
    const c = rule[i]!;
    if (/\s/.test(c)) i++;
    else if (rule.startsWith('||', i) || rule.startsWith('&&', i)) {
      out.push({ t: rule.slice(i, i + 2), v: rule.slice(i, i + 2) });
      i += 2;
    } else if ('!(),'.includes(c)) out.push({ t: c, v: rule[i++]! });
    else if (c === '`') {
      const end = rule.indexOf('`', i + 1);
      if (end < 0) throw new Error('unterminated string');
      out.push({ t: 'str', v: rule.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(rule.slice(i));
      if (!m) throw new Error('unterminated string');
      out.push({ t: 'str', v: JSON.parse(m[0]) as string });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z]+/.exec(rule.slice(i));
      if (!m) throw new Error(`unexpected character ${JSON.stringify(c)}`);
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

function v2HostTemplate(t: string): RegExp {
  let re = '';
  for (let i = 0; i < t.length; ) {
    if (t[i] !== '{') {
      re += t[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
      continue;
    }
    let depth = 0;
    let j = i;
    for (; j < t.length; j++)
      if (t[j] === '{') depth++;
      else if (t[j] === '}' && --depth === 0) break;
    const inner = t.slice(i + 1, j);
    const colon = inner.indexOf(':');
    re += colon < 0 ? '[^.]+' : `(?:${inner.slice(colon + 1)})`;
    i = j + 1;
  }
  return new RegExp(`^${re}$`, 'i');
}

function matcher(name: string, args: string[]): Matcher {
  if (args.length === 0) throw new Error(`${name}: no arguments`);
  switch (name.toLowerCase()) {
    case 'host': {
      const hosts = args.map((h) => h.toLowerCase().replace(/\.$/, ''));
      return (r) => hosts.includes(r.host);
    }
    case 'hostregexp': {
      const res = args.map((a) => (/\{[A-Za-z_]\w*[:}]/.test(a) ? v2HostTemplate(a) : new RegExp(a)));
      return (r) => res.some((re) => re.test(r.host));
    }
    case 'path':
      return (r) => args.includes(r.path);
    case 'pathprefix':
      return (r) => args.some((p) => r.path.startsWith(p));
    case 'pathregexp': {
      const res = args.map((a) => new RegExp(a));
      return (r) => res.some((re) => re.test(r.path));
    }
    case 'method':
      return (r) => args.some((m) => m.toUpperCase() === r.method);
    default:
      throw new Error(`unsupported matcher ${name} (lab stand-in: Host, HostRegexp, Path, PathPrefix, PathRegexp, Method)`);
  }
}

export function parseRule(rule: string): Matcher {
  const toks = tokenize(rule);
  let i = 0;
  const expect = (t: string): void => {
    if (toks[i]?.t !== t) throw new Error(`expected ${t} at token ${i + 1}`);
    i++;
  };
  const binary = (op: string, next: () => Matcher): Matcher => {
    let left = next();
    while (toks[i]?.t === op) {
      i++;
      const [a, b] = [left, next()];
      left = op === '||' ? (r) => a(r) || b(r) : (r) => a(r) && b(r);
    }
    return left;
  };
  const or = (): Matcher => binary('||', and);
  const and = (): Matcher => binary('&&', unary);
  const unary = (): Matcher => {
    const t = toks[i++];
    if (!t) throw new Error('unexpected end of rule');
    if (t.t === '!') {
      const m = unary();
      return (r) => !m(r);
    }
    if (t.t === '(') {
      const m = or();
      expect(')');
      return m;
    }
    if (t.t !== 'id') throw new Error(`unexpected ${t.v}`);
    expect('(');
    const args: string[] = [];
    while (toks[i]?.t === 'str') {
      args.push(toks[i++]!.v);
      if (toks[i]?.t !== ',') break;
      i++;
    }
    expect(')');
    return matcher(t.v, args);
  };
  const m = or();
  if (i < toks.length) throw new Error(`unexpected ${toks[i]!.v}`);
  return m;
}

/** Traefik's matchDomain: exact, or a wildcard standing for exactly one leftmost label. */
export function matchDomain(name: string, certDomain: string): boolean {
  if (name === certDomain) return true;
  const labels = name.split('.');
  for (let i = 0; i < labels.length; i++) {
    labels[i] = '*';
    if (labels.join('.') === certDomain) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Dynamic configuration (file provider), the subset. Keys match case-insensitively, as in Traefik.

type Schema = 'string' | 'number' | 'boolean' | Schema[] | { [key: string]: Schema };
const CERT: Schema = { certFile: 'string', keyFile: 'string', stores: ['string'] };
const DYNAMIC: Schema = {
  tls: { certificates: [CERT], stores: { '*': { defaultCertificate: { certFile: 'string', keyFile: 'string' } } } },
  http: {
    routers: {
      '*': { rule: 'string', entryPoints: ['string'], service: 'string', priority: 'number', tls: { options: 'string' } },
    },
    services: {
      '*': {
        // Stand-in extension: a fixed response instead of a load balancer.
        static: { status: 'number', contentType: 'string', body: 'string', headers: { '*': 'string' } },
        loadBalancer: { servers: [{ url: 'string' }], passHostHeader: 'boolean' },
      },
    },
  },
};

function normalize(v: unknown, s: Schema, at: string): unknown {
  if (typeof s === 'string') {
    if (s === 'number' && typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    if (s === 'string' && (typeof v === 'number' || typeof v === 'boolean')) return String(v);
    // biome-ignore lint/suspicious/useValidTypeof: s is a typeof name from the schema
    if (typeof v !== s) throw new Error(`${at}: expected a ${s}`);
    return v;
  }
  if (Array.isArray(s)) {
    if (!Array.isArray(v)) throw new Error(`${at}: expected a list`);
    return v.map((e, i) => normalize(e, s[0]!, `${at}[${i}]`));
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${at}: expected a mapping`);
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const key = s['*'] ? k : Object.keys(s).find((x) => x.toLowerCase() === k.toLowerCase());
    if (key === undefined) throw new Error(`field not found, node: ${k} (lab stand-in: not mirrored)`);
    out[key] = normalize(val, s['*'] ?? s[key]!, at ? `${at}.${k}` : k);
  }
  return out;
}

interface CertFiles {
  certFile: string;
  keyFile: string;
}
interface RouterConf {
  rule?: string;
  entryPoints?: string[];
  service?: string;
  priority?: number;
  tls?: object;
}
interface ServiceConf {
  static?: { status?: number; contentType?: string; body?: string; headers?: Record<string, string> };
  loadBalancer?: { servers?: { url: string }[]; passHostHeader?: boolean };
}
interface DynamicConf {
  tls?: { certificates?: CertFiles[]; stores?: Record<string, { defaultCertificate?: CertFiles }> };
  http?: { routers?: Record<string, RouterConf>; services?: Record<string, ServiceConf> };
}

interface ReadPair {
  certFile: string;
  cert?: string;
  key?: string;
  error?: string;
}

/** Go's os.ReadFile error text. */
function goReadError(path: string, e: NodeJS.ErrnoException): string {
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
    ELOOP: 'too many levels of symbolic links',
  };
  if (e.code === 'EISDIR') return `read ${path}: is a directory`;
  return `open ${path}: ${text[e.code ?? ''] ?? e.message}`;
}

// Contents are read here, when the configuration is loaded, and never again: Traefik does not
// watch certificate files, so a certificate rotated on disk is served only after a reload.
async function readPair(c: CertFiles): Promise<ReadPair> {
  const read = async (p: string): Promise<string> => {
    try {
      return await readFile(p, 'utf8');
    } catch (e) {
      throw new Error(goReadError(p, e as NodeJS.ErrnoException));
    }
  };
  try {
    return { certFile: c.certFile, cert: await read(c.certFile), key: await read(c.keyFile) };
  } catch (e) {
    return { certFile: c.certFile, error: (e as Error).message };
  }
}

interface LoadedCert {
  domains: string[];
  fingerprint: string;
  notAfter: string;
  ctx: tls.SecureContext;
}

/** Go's tls.X509KeyPair checks, then a Node secure context serving every certificate in the file. */
export function loadCertificate(certPem: string, keyPem: string): LoadedCert {
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error('tls: failed to find any PEM data in certificate input');
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(keyPem)) throw new Error('tls: failed to find any PEM data in key input');
  const leaf = new X509Certificate(blocks[0]!);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new Error('tls: failed to parse private key');
  }
  if (!leaf.checkPrivateKey(key)) throw new Error('tls: private key does not match public key');
  const ctx = tls.createSecureContext({ cert: blocks.join('\n'), key: keyPem });
  // Traefik's store key: the CN, then DNS names, then IP addresses, lower-cased.
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  const sans = (leaf.subjectAltName ?? '').split(', ');
  const pick = (prefix: string) =>
    sans
      .filter((s) => s.startsWith(prefix))
      .map((s) => s.slice(prefix.length))
      .filter((n) => n !== cn);
  const domains = [...(cn ? [cn] : []), ...pick('DNS:'), ...pick('IP Address:')].map((d) => d.toLowerCase());
  return { domains, fingerprint: leaf.fingerprint256, notAfter: leaf.validTo, ctx };
}

const execFileP = promisify(execFile);

/** Traefik's generated default certificate: CN "TRAEFIK DEFAULT CERT", SAN <random>.<random>.traefik.default. */
async function generateDefaultCertificate(): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'traefik-default-cert-'));
  try {
    const z = createHash('sha256').update(randomBytes(100)).digest('hex');
    writeFileSync(join(dir, 'req.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n');
    await execFileP('openssl', [
      'req',
      '-config',
      join(dir, 'req.cnf'),
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '365',
      '-subj',
      '/CN=TRAEFIK DEFAULT CERT',
      '-addext',
      `subjectAltName=DNS:${z.slice(0, 32)}.${z.slice(32)}.traefik.default`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime.

interface Ctx {
  entryPoint: string;
  secure: boolean;
  /** Bound port of each entrypoint (redirections to a port-0 entrypoint use the real one). */
  ports: Record<string, number>;
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, c: Ctx) => void;
interface Router {
  name: string;
  entryPoints: string[];
  tls: boolean;
  priority: number;
  match: Matcher;
  handle: Handler;
}
interface Runtime {
  signature: string;
  certs: LoadedCert[];
  defaultCert?: LoadedCert;
  routers: Router[];
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

function loadBalancer(servers: URL[], passHostHeader: boolean): Handler {
  let next = 0;
  return (req, res, c) => {
    if (servers.length === 0) return plain(res, 503, 'Service Unavailable');
    const target = servers[next++ % servers.length]!;
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const peer = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    Object.assign(headers, {
      'x-forwarded-for': xff ? `${String(xff)}, ${peer}` : peer,
      'x-forwarded-host': req.headers.host ?? '',
      'x-forwarded-port': String(c.ports[c.entryPoint] ?? ''),
      'x-forwarded-proto': c.secure ? 'https' : 'http',
      'x-forwarded-server': hostname(),
      'x-real-ip': peer,
    });
    if (!passHostHeader) headers.host = target.host;
    const base = target.pathname.replace(/\/$/, '');
    const upstream = (target.protocol === 'https:' ? https : http).request(
      { hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port, method: req.method, path: base + (req.url ?? '/'), headers },
      (up) => {
        const out = Object.fromEntries(Object.entries(up.headers).filter(([k]) => !HOP_BY_HOP.includes(k)));
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : plain(res, 502, 'Bad Gateway')));
    req.pipe(upstream);
  };
}

function buildService(name: string, s: ServiceConf): Handler {
  if (s.static && s.loadBalancer) throw new Error(`the service "${name}@file" has more than one type`);
  if (s.static) {
    const { status = 200, contentType = 'text/plain; charset=utf-8', body = '', headers = {} } = s.static;
    return (_req, res) => {
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
      res.end(body);
    };
  }
  if (s.loadBalancer) {
    const urls = (s.loadBalancer.servers ?? []).map((x) => new URL(x.url));
    return loadBalancer(urls, s.loadBalancer.passHostHeader ?? true);
  }
  throw new Error(`the service "${name}@file" has no type (lab stand-in: static or loadBalancer)`);
}

function stripPort(host: string | undefined): string {
  const h = (host ?? '').trim();
  return /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(h)?.[1] ?? h;
}

function canonicalHost(host: string | undefined): string {
  return stripPort(host).toLowerCase().replace(/\.$/, '');
}

export interface RunningTraefik {
  /** Bound address of each entrypoint. */
  addresses: Record<string, { address: string; port: number }>;
  /** Re-read the dynamic file now, as the file watcher does. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startTraefik(opts: TraefikOptions): Promise<RunningTraefik> {
  const write = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  let level = parseLevel(opts.logLevel);
  const log: Logger = (l, msg, fields) => {
    if (LEVELS.indexOf(l) >= LEVELS.indexOf(level ?? 'error')) write(formatLogLine(l, msg, fields));
  };
  if (!level) {
    level = 'error';
    log('error', 'Unspecified or invalid log level, setting the level to default (ERROR)...', { logLevel: opts.logLevel ?? '' });
  }
  log('info', "Traefik version lab-standin built on I don't know time");

  const eps = Object.fromEntries(Object.entries(opts.entrypoints).map(([n, e]) => [n, typeof e === 'string' ? { address: e } : e] as const));
  const addrs = Object.fromEntries(Object.entries(eps).map(([n, e]) => [n, parseAddress(n, e.address)] as const));
  const generated = await generateDefaultCertificate();
  const fallback = loadCertificate(generated.cert, generated.key);

  let rt: Runtime = { signature: '', certs: [], routers: [] };
  const tlsServers: https.Server[] = [];
  const defaultCtx = (): tls.SecureContext => (rt.defaultCert ?? fallback).ctx;

  const pickContext = (servername: string): tls.SecureContext => {
    const name = servername.trim().toLowerCase();
    const matched = new Map<string, tls.SecureContext>();
    if (name) for (const c of rt.certs) for (const d of c.domains) if (matchDomain(name, d)) matched.set(d, c.ctx);
    if (matched.size === 0) {
      log('debug', `Serving default certificate for request: "${name}"`);
      return defaultCtx();
    }
    return matched.get([...matched.keys()].sort().at(-1)!)!; // Traefik: the greatest matching domain wins
  };

  // Redirections are routers of Traefik's internal provider: they survive dynamic-config errors.
  const internal: Router[] = [];
  for (const [name, ep] of Object.entries(eps)) {
    if (!ep.redirect) continue;
    const { to, scheme = 'https', permanent = true, priority = MAX_PRIORITY } = ep.redirect;
    const fixedPort = to && /^:(\d+)$/.exec(to)?.[1];
    if (!to) {
      log('error', 'Unable to create redirection: the entry point or the port is missing', { entryPointName: name });
      continue;
    }
    if (!fixedPort && !eps[to]) {
      log('error', `'to' entry point field references a non-existing entry point: ${to}`, { entryPointName: name });
      continue;
    }
    internal.push({
      name: `${name}-to-${to.replace(/[^A-Za-z0-9-]/g, '-')}@internal`,
      entryPoints: [name],
      tls: false,
      priority,
      match: (r) => r.host !== '',
      handle: (req, res, c) => {
        const port = fixedPort || String(c.ports[to] ?? '');
        const keep = port && !((scheme === 'https' && port === '443') || (scheme === 'http' && port === '80'));
        const status = permanent ? (req.method === 'GET' ? 301 : 308) : req.method === 'GET' ? 302 : 307;
        const body = http.STATUS_CODES[status]!;
        res.writeHead(status, {
          Location: `${scheme}://${stripPort(req.headers.host)}${keep ? `:${port}` : ''}${req.url ?? '/'}`,
          'Content-Length': body.length,
        });
        res.end(body);
      },
    });
  }

  const compile = (conf: DynamicConf, pairs: ReadPair[], def: ReadPair | undefined, signature: string): Runtime => {
    const certs: LoadedCert[] = [];
    const seen = new Set<string>();
    const load = (p: ReadPair): LoadedCert | undefined => {
      try {
        if (p.error) throw new Error(p.error);
        return loadCertificate(p.cert!, p.key!);
      } catch (e) {
        log('error', `Unable to append certificate ${p.certFile} to store: ${(e as Error).message}`, { tlsStoreName: 'default' });
        return undefined;
      }
    };
    for (const p of pairs) {
      const c = load(p);
      if (!c) continue;
      const key = c.domains.join(',');
      if (seen.has(key)) {
        log('debug', `Skipping addition of certificate for domain(s) "${key}", to TLS Store default, as it already exists for this store.`);
        continue;
      }
      seen.add(key);
      certs.push(c);
      // Traefik logs this at debug; the stand-in adds the fingerprint and logs at info.
      log('info', `Adding certificate for domain(s) ${key}`, { tlsStoreName: 'default', certFile: p.certFile, sha256: c.fingerprint, notAfter: c.notAfter });
    }
    const defaultCert = def && load(def);
    if (defaultCert) log('info', 'Using the configured default certificate', { tlsStoreName: 'default', sha256: defaultCert.fingerprint });

    const services = conf.http?.services ?? {};
    const routers: Router[] = [];
    for (const [name, r] of Object.entries(conf.http?.routers ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const fields = { routerName: `${name}@file` };
      try {
        if (!r.rule) throw new Error('router has no rule');
        const svcName = (r.service ?? '').replace(/@file$/, '');
        const svc = services[svcName];
        if (!svc) throw new Error(`the service "${svcName}@file" does not exist`);
        const entryPoints = r.entryPoints ?? Object.keys(eps);
        for (const ep of entryPoints) if (!eps[ep]) log('error', "EntryPoint doesn't exist", { ...fields, entryPointName: ep });
        if (!entryPoints.some((ep) => eps[ep])) throw new Error('no valid entryPoint for this router');
        routers.push({
          name: `${name}@file`,
          entryPoints,
          tls: r.tls !== undefined,
          priority: r.priority || r.rule.length,
          match: parseRule(r.rule),
          handle: buildService(svcName, svc),
        });
      } catch (e) {
        log('error', (e as Error).message, fields);
      }
    }
    routers.sort((a, b) => b.priority - a.priority);
    return { signature, certs, defaultCert, routers };
  };

  const file = opts.dynamicFile;
  const directory = opts.dynamicDirectory;
  const readConf = async (f: string): Promise<DynamicConf> => {
    let raw: string;
    try {
      raw = await readFile(f, 'utf8');
    } catch (e) {
      throw new Error(`error reading configuration file: ${f} - ${goReadError(f, e as NodeJS.ErrnoException)}`);
    }
    if (!/\.(ya?ml|json)$/i.test(f)) throw new Error(`unsupported file extension for file: ${f} (lab stand-in: YAML only)`);
    return normalize(parseYaml(raw) ?? {}, DYNAMIC, '') as DynamicConf;
  };
  /** Every *.yml/*.yaml of the directory, in name order, merged as Traefik's file provider does. */
  const readDirectory = async (dir: string): Promise<DynamicConf> => {
    const merged: DynamicConf = {};
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.ya?ml$/i.test(n)).sort();
    for (const n of names) {
      const c = await readConf(join(dir, n));
      if (c.tls?.certificates) (merged.tls ??= {}).certificates = [...(merged.tls.certificates ?? []), ...c.tls.certificates];
      if (c.tls?.stores) (merged.tls ??= {}).stores ??= c.tls.stores;
      for (const kind of ['routers', 'services'] as const) {
        for (const [k, v] of Object.entries(c.http?.[kind] ?? {})) {
          const into = ((merged.http ??= {})[kind] ??= {}) as Record<string, unknown>;
          if (k in into)
            log('error', `${kind === 'routers' ? 'Router' : 'Service'} defined multiple times with different configurations in ${n}`, {
              [kind === 'routers' ? 'routerName' : 'serviceName']: k,
            });
          else into[k] = v;
        }
      }
    }
    return merged;
  };
  const reload = async (first: boolean): Promise<void> => {
    if (!file && !directory) return;
    try {
      const conf = file ? await readConf(file) : await readDirectory(directory!);
      const pairs = await Promise.all((conf.tls?.certificates ?? []).map(readPair));
      const defFiles = conf.tls?.stores?.default?.defaultCertificate;
      const def = defFiles && (await readPair(defFiles));
      const signature = createHash('sha256')
        .update(JSON.stringify([conf, pairs, def]))
        .digest('hex');
      if (signature === rt.signature) {
        log('debug', 'Skipping same configuration', { providerName: 'file' });
        return;
      }
      log('debug', 'Configuration received', { providerName: 'file' });
      const before = defaultCtx();
      rt = compile(conf, pairs, def, signature);
      // Connections without SNI get the server's own context, so that one is swapped too.
      if (defaultCtx() !== before) for (const s of tlsServers) s.setSecureContext(rt.defaultCert ? { cert: def!.cert!, key: def!.key! } : generated);
    } catch (e) {
      const msg = (e as Error).message;
      if (first) log('error', `Cannot start the provider *file.Provider: ${msg}`);
      else log('error', `Error occurred during watcher callback: ${msg}`, { providerName: 'file' });
      throw e;
    }
  };

  // Entrypoints: one listener each; the first byte tells a TLS ClientHello (0x16) from HTTP.
  const sockets = new Set<net.Socket>();
  const listeners: net.Server[] = [];
  const ports: Record<string, number> = {};
  const addresses: RunningTraefik['addresses'] = {};
  const dispatch =
    (entryPoint: string, secure: boolean): http.RequestListener =>
    (req, res) => {
      const info: RequestInfo = { host: canonicalHost(req.headers.host), path: (req.url ?? '/').split('?')[0]!, method: req.method ?? 'GET' };
      const candidates = secure ? rt.routers : [...internal, ...rt.routers];
      const r = candidates.find((x) => x.tls === secure && x.entryPoints.includes(entryPoint) && x.match(info));
      if (!r) return plain(res, 404, '404 page not found\n');
      log('debug', `${req.method} ${info.host}${req.url}`, { entryPointName: entryPoint, routerName: r.name });
      r.handle(req, res, { entryPoint, secure, ports });
    };
  const closeAll = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await Promise.all(listeners.map((l) => new Promise<void>((res) => l.close(() => res()))));
  };
  try {
    for (const [name, { host, port }] of Object.entries(addrs)) {
      const plainServer = http.createServer(dispatch(name, false));
      const tlsServer = https.createServer(
        { ...generated, ALPNProtocols: ['http/1.1'], SNICallback: (sn, cb) => cb(null, pickContext(sn)) },
        dispatch(name, true),
      );
      tlsServer.on('tlsClientError', (e, s) =>
        log('debug', `http: TLS handshake error from ${s.remoteAddress}:${s.remotePort}: ${e.message}`, { entryPointName: name }),
      );
      tlsServers.push(tlsServer);
      const listener = net.createServer((sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => sock.destroy());
        // Peek one byte in paused mode; the TLS wrap picks up the unshifted byte from the buffer.
        sock.once('readable', () => {
          const first = sock.read(1) as Buffer | null;
          if (!first) return void sock.destroy();
          sock.unshift(first);
          (first[0] === 0x16 ? tlsServer : plainServer).emit('connection', sock);
        });
      });
      await new Promise<void>((resolve, reject) => {
        listener.once('error', (e: NodeJS.ErrnoException) => {
          const why: Record<string, string> = {
            EADDRINUSE: 'address already in use',
            EACCES: 'permission denied',
            EADDRNOTAVAIL: 'cannot assign requested address',
          };
          reject(
            new Error(
              `error while building entryPoint ${name}: error preparing server: error opening listener: listen tcp ${eps[name]!.address}: bind: ${why[e.code ?? ''] ?? e.message}`,
            ),
          );
        });
        listener.listen({ host, port }, resolve);
      });
      listeners.push(listener);
      const a = listener.address() as net.AddressInfo;
      addresses[name] = { address: a.address, port: a.port };
      ports[name] = a.port;
      log('debug', 'Starting TCP Server', { entryPointName: name, address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` });
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (file || directory) {
    log('info', 'Starting provider *file.Provider', { providerName: 'file' });
    // As in Traefik, a provider whose first load fails is not started (so not watched either).
    const started = await reload(true).then(
      () => true,
      () => false,
    );
    if (started && opts.watch !== false) {
      try {
        // Traefik watches the file's directory and reacts to events naming the file only.
        watcher = watch(directory ?? dirname(file!), (_ev, name) => {
          if (file && name !== null && name !== basename(file)) return;
          clearTimeout(timer);
          timer = setTimeout(() => void reload(false).catch(() => undefined), 100);
        });
        watcher.on('error', (e) => log('error', `Watcher event error: ${e.message}`, { providerName: 'file' }));
      } catch (e) {
        log('error', `error adding file watcher: ${(e as Error).message}`, { providerName: 'file' });
      }
    }
  }

  return {
    addresses,
    reload: () => reload(false).catch(() => undefined),
    close: async () => {
      clearTimeout(timer);
      watcher?.close();
      await closeAll();
    },
  };
}
