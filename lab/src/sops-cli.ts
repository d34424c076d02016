// Lab stand-in for the `sops` command (lab/standins/sops): -d/decrypt [--extract] [--ignore-mac],
// -e/encrypt --age [-i], filestatus, --version, with --input-type/--output-type; the yaml and json
// stores only; age keys from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or the user's keys.txt.
// Flags are parsed like urfave/cli v1 (Go's flag package): they stop at the first positional
// argument. Messages and exit codes follow cmd/sops.
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SopsError, parseSopsFile, type Node, type SopsFormat } from './harness';
import { emitJson, emitYaml, emitYamlValue } from './sops/emit';
import { SopsExit } from './sops/exit-codes';
import { DEFAULT_SOPS_VERSION, decryptSopsFileDetailed, encryptSopsFile } from './sops/files';
import { loadPlainFile, parseTreePath, truncate } from './sops/tree';

const BOOL_FLAGS = new Set(['decrypt', 'encrypt', 'ignore-mac', 'in-place', 'version']);
const STRING_FLAGS = new Set(['extract', 'input-type', 'output-type', 'age']);
const ALIASES: Record<string, string> = { d: 'decrypt', e: 'encrypt', i: 'in-place', a: 'age', v: 'version' };

class Usage extends Error {}

interface Parsed {
  flags: Map<string, string | true>;
  rest: string[];
}

/** Go's flag.Parse: `-x`, `--x`, `-x=v`, `-x v`; stops at the first non-flag or after `--`. */
function parseFlags(args: string[], allowed: Set<string>): Parsed {
  const flags = new Map<string, string | true>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const rawName = eq < 0 ? body : body.slice(0, eq);
    const name = ALIASES[rawName] ?? rawName;
    if (!allowed.has(name)) throw new Usage(`flag provided but not defined: ${a.replace(/=.*/, '')}`);
    if (BOOL_FLAGS.has(name)) {
      if (eq < 0 || ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(body.slice(eq + 1))) flags.set(name, true);
      else flags.delete(name);
    } else if (eq >= 0) flags.set(name, body.slice(eq + 1));
    else if (i + 1 < args.length) flags.set(name, args[++i]!);
    else throw new Usage(`flag needs an argument: ${a}`);
  }
  return { flags, rest: args.slice(i) };
}

/** formats.FormatForPathOrString, for the yaml and json stores (the only ones the stand-in has). */
function storeFor(path: string, explicit: string | undefined): SopsFormat {
  const kind = explicit || (/\.ya?ml$/.test(path) ? 'yaml' : path.endsWith('.json') ? 'json' : undefined);
  if (kind === 'yaml' || kind === 'json') return kind;
  if (kind === undefined)
    throw new SopsError(`${path} is not .yaml, .yml or .json: this lab stand-in has only the yaml and json stores (pass --input-type/--output-type)`);
  if (['binary', 'dotenv', 'ini'].includes(kind)) throw new SopsError(`the ${kind} format is not supported by this lab stand-in`);
  throw new SopsError(`Invalid format "${kind}"`);
}

function emitPlain(format: SopsFormat, branches: Node[]): Buffer {
  if (format === 'yaml') return Buffer.from(emitYaml(branches));
  return Buffer.from(emitJson(branches[0] ?? { t: 'map', items: [] }) + '\n');
}

function emitValue(format: SopsFormat, n: Node): Buffer {
  return Buffer.from(format === 'yaml' ? emitYamlValue(n) : emitJson(n));
}

interface Identities {
  files: string[];
  errors: string[];
  cleanup: () => void;
}

/** age.MasterKey.loadIdentities: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, the user config file. */
function ageIdentities(env: NodeJS.ProcessEnv): Identities {
  const files: string[] = [];
  const errors: string[] = [];
  let tmp: string | undefined;
  const readable = (f: string, what?: string) => {
    try {
      accessSync(f, constants.R_OK);
      files.push(f);
    } catch (e) {
      errors.push(`failed to open ${what ? `${what} file` : 'file'}: ${goFsError(e, 'open', f)}`);
    }
  };
  const key = env['SOPS_AGE_KEY'];
  if (key !== undefined) {
    // The key travels to age in a private file, never on the command line.
    tmp = mkdtempSync(join(tmpdir(), 'sops-age-'));
    const f = join(tmp, 'keys.txt');
    writeFileSync(f, key.endsWith('\n') ? key : key + '\n', { mode: 0o600 });
    files.push(f);
  }
  const keyFile = env['SOPS_AGE_KEY_FILE'];
  if (keyFile !== undefined) readable(keyFile, 'SOPS_AGE_KEY_FILE');
  const configDir = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  const userFile = join(configDir, 'sops', 'age', 'keys.txt');
  // The user's key file must exist only when nothing else gave a key (3.9 loadIdentities).
  if (existsSync(userFile) || (files.length === 0 && errors.length === 0)) readable(userFile);
  return { files, errors, cleanup: () => tmp && rmSync(tmp, { recursive: true, force: true }) };
}

/** An *fs.PathError's text, as Go prints it: "open /x: no such file or directory". */
function goFsError(e: unknown, op: string, path: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return `read ${path}: is a directory`;
  const why = ({ ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'not a directory' } as Record<string, string>)[code ?? ''];
  return `${op} ${path}: ${why ?? (e as Error).message}`;
}

function readInput(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new SopsError(`Error reading file: ${goFsError(e, 'open', path)}`, SopsExit.couldNotReadInputFile);
  }
}

async function decryptCmd(file: string, flags: Map<string, string | true>, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const path = resolve(file);
  const inKind = storeFor(path, flags.get('input-type') as string | undefined);
  const outKind = storeFor(path, flags.get('output-type') as string | undefined);
  let selector: Array<string | number> = [];
  const ex = flags.get('extract');
  if (typeof ex === 'string') {
    try {
      selector = parseTreePath(ex);
    } catch (e) {
      throw new SopsError(`error parsing --extract path: ${(e as Error).message}`, SopsExit.invalidTreePathFormat);
    }
  }
  const text = readInput(path);
  const ids = ageIdentities(env);
  try {
    const r = await decryptSopsFileDetailed(text, inKind, ids.files, { ignoreMac: flags.has('ignore-mac'), identityErrors: ids.errors });
    if (selector.length === 0) return emitPlain(outKind, r.branches);
    let v: Node;
    try {
      v = truncate(r.branches[0]!, selector);
    } catch (e) {
      throw new SopsError(`error truncating tree: ${(e as Error).message}`);
    }
    if (v.t === 'map') return emitPlain(outKind, [v]);
    if (v.t === 'str') return Buffer.from(v.v);
    return emitValue(outKind, v);
  } finally {
    ids.cleanup();
  }
}

async function encryptCmd(file: string, flags: Map<string, string | true>, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const path = resolve(file);
  const inKind = storeFor(path, flags.get('input-type') as string | undefined);
  const outKind = storeFor(path, flags.get('output-type') as string | undefined);
  const recipients = String(flags.get('age') ?? env['SOPS_AGE_RECIPIENTS'] ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r);
  if (recipients.length === 0) {
    throw new SopsError('config file not found, or has no creation rules, and no keys provided through command line options');
  }
  const text = readInput(path);
  const docs = loadPlainFile(text, inKind);
  if (docs.length !== 1) throw new SopsError('this lab stand-in encrypts single-document files only');
  return Buffer.from(await encryptSopsFile(docs[0]!, recipients, outKind));
}

/** filestatus.cfs: encrypted when sops metadata with a version and a MAC is present. */
function fileStatus(file: string, inputType: string | undefined): boolean {
  const path = resolve(file);
  try {
    const p = parseSopsFile(readInput(path), storeFor(path, inputType));
    return !!p.metadata.version && !!p.metadata.mac;
  } catch (e) {
    if ((e as Error).message === 'sops metadata not found') return false;
    throw new SopsError(`cannot check file status: cannot load encrypted file: ${(e as Error).message}`);
  }
}

const GLOBAL_FLAGS = new Set([...BOOL_FLAGS, ...STRING_FLAGS]);

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ out: Buffer; code: number }> {
  const g = parseFlags(argv, GLOBAL_FLAGS);
  if (g.flags.has('version')) return { out: Buffer.from(`sops ${DEFAULT_SOPS_VERSION} (lab stand-in)\n`), code: 0 };
  const [first, ...more] = g.rest;
  if (first === 'filestatus') {
    const c = parseFlags(more, new Set(['input-type']));
    if (c.rest.length < 1) throw new SopsError('Error: no file specified', SopsExit.noFileSpecified);
    const status = fileStatus(c.rest[0]!, c.flags.get('input-type') as string | undefined);
    return { out: Buffer.from(JSON.stringify({ encrypted: status }) + '\n'), code: 0 };
  }
  let flags = g.flags;
  let args = g.rest;
  if (first === 'decrypt' || first === 'encrypt') {
    const c = parseFlags(more, GLOBAL_FLAGS);
    flags = new Map([...g.flags, ...c.flags, [first, true as const]]);
    args = c.rest;
  }
  if (args.length < 1) throw new SopsError('Error: no file specified', SopsExit.noFileSpecified);
  const file = args[0]!;
  const decrypt = flags.has('decrypt');
  const encrypt = flags.has('encrypt');
  if (!decrypt && !encrypt) {
    throw new SopsError('this lab stand-in supports only -d/--decrypt, -e/--encrypt, `decrypt`, `encrypt` and `filestatus`');
  }
  if (!existsSync(resolve(file))) throw new SopsError('Error: cannot operate on non-existent file', SopsExit.noFileSpecified);
  const out = decrypt ? await decryptCmd(file, flags, env) : await encryptCmd(file, flags, env);
  if (flags.has('in-place')) {
    try {
      writeFileSync(file, out);
    } catch (e) {
      throw new SopsError(`Could not open output file for writing: ${(e as Error).message}`, 3);
    }
    return { out: Buffer.alloc(0), code: 0 };
  }
  return { out, code: 0 };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    ({ out, code }) => {
      process.stdout.write(out);
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof Usage) {
        process.stderr.write(`Incorrect Usage. ${e.message}\n`);
        process.exitCode = 1;
      } else if (e instanceof SopsError) {
        process.stderr.write(`${e.userMessage ?? e.message}\n`);
        process.exitCode = e.exitCode;
      } else {
        process.stderr.write(`${(e as Error).message ?? String(e)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
