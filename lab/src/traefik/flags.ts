// The Traefik stand-in's static configuration: the CLI flags of the subset, parsed as paerser does.

export interface Redirection {
  /** An entrypoint's name, or `:PORT`. */
  to: string;
  scheme: string;
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

type FlagKind = 'string' | 'bool';
interface FlagTree {
  [k: string]: FlagTree | FlagKind;
}
const FLAGS: FlagTree = {
  entrypoints: { '*': { address: 'string', http: { redirections: { entrypoint: { to: 'string', scheme: 'string' } } } } },
  providers: { file: { filename: 'string', directory: 'string', watch: 'bool' } },
  log: { level: 'string' },
};

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
    const p = path.map((s) => s.toLowerCase()).join('.');
    if (p.startsWith('entrypoints.')) {
      const ep = (eps[names[0]!] ??= { address: '' });
      const leaf = p.slice(p.lastIndexOf('.') + 1);
      if (leaf === 'address') ep.address = value;
      else if (leaf === 'to') (ep.redirect ??= {}).to = value;
      else (ep.redirect ??= {}).scheme = value;
    } else if (p === 'providers.file.filename') opts.dynamicFile = value;
    else if (p === 'providers.file.directory') opts.dynamicDirectory = value;
    else if (p === 'providers.file.watch') opts.watch = /^(true|1|t)$/i.test(value);
    else opts.logLevel = value;
  }
  for (const [name, ep] of Object.entries(eps)) if (!ep.address) throw new FlagError(`entry point "${name}" has no address`);
  if (opts.dynamicFile && opts.dynamicDirectory) throw new FlagError('error using file configuration provider: filename and directory are mutually exclusive');
  // Traefik's default when no entrypoint is configured.
  if (Object.keys(eps).length === 0) eps.http = { address: ':80' };
  return opts;
}

/** `[HOST]:PORT[/tcp]`; no host: every address. */
export function parseAddress(name: string, address: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})(?:\/tcp)?$/i.exec(address);
  if (!m) throw new Error(`error while building entryPoint ${name}: invalid address "${address}" (lab stand-in: [HOST]:PORT[/tcp])`);
  return { host: (m[1] ?? m[2]) || undefined, port: Number(m[3]) };
}
