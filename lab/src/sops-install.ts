// sops-nix's sops-install-secrets (pkgs/sops-install-secrets/main.go and linux.go), the subset the
// lab uses: yaml/json/binary secrets, an age key file or ed25519 SSH keys converted to age keys
// (as ssh-to-age does), ramfs/tmpfs mount, numbered generations behind an atomic symlink, path
// symlinks, restart/reload lists, change logging and pruning. Messages follow the Go source.
// Refused: templates, dotenv/ini secrets, sshKeyPaths (SSH keys imported as GPG keys).
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  closeSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  type Stats,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SopsError, SopsExit, decryptSopsFileDetailed, emitJson, emitYaml, type DecryptedSops, type SopsValue } from './harness';

const { basename, dirname, join } = posix;

export type CheckMode = 'off' | 'manifest' | 'sopsfile';
type Format = 'yaml' | 'json' | 'binary' | 'dotenv' | 'ini';

export interface ManifestSecret {
  name: string;
  key?: string;
  path: string;
  owner?: string | null;
  uid?: number | null;
  group?: string | null;
  gid?: number | null;
  sopsFile: string;
  format?: string | null;
  mode: string;
  restartUnits?: string[] | null;
  reloadUnits?: string[] | null;
}

export interface Manifest {
  secrets?: ManifestSecret[] | null;
  templates?: unknown[] | null;
  placeholderBySecretName?: Record<string, string> | null;
  secretsMountPoint?: string | null;
  symlinkPath?: string | null;
  keepGenerations?: number | null;
  sshKeyPaths?: string[] | null;
  gnupgHome?: string | null;
  ageKeyFile?: string | null;
  ageSshKeyPaths?: string[] | null;
  useTmpfs?: boolean | null;
  userMode?: boolean | null;
  logging?: { keyImport?: boolean | null; secretChanges?: boolean | null } | null;
}

export interface InstallOptions {
  /** Prefixes every absolute path of the manifest (default `/`); link targets carry it too. */
  root?: string;
  /** Really mount ramfs/tmpfs on the mount point; default: only when root is `/`. */
  mount?: boolean;
  checkMode?: CheckMode;
  ignorePasswd?: boolean;
  /** NIXOS_ACTION (dry-activate) and XDG_RUNTIME_DIR (user mode); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Basename of argv[0], used in the key import lines. */
  programName?: string;
  now?: Date;
  write?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface InstallResult {
  /** The new generation (undefined in check modes). */
  generation?: number;
  secretDir?: string;
  added: string[];
  modified: string[];
  removed: string[];
  restartUnits: string[];
  reloadUnits: string[];
  stdout: string[];
  stderr: string[];
}

/** Every failure of the real program: printed as `<argv0>: <message>`, exit status 1. */
export class InstallError extends Error {
  override name = 'InstallError';
}
const fail = (msg: string): never => {
  throw new InstallError(msg);
};
const msgOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const wrap = (prefix: string, e: unknown): never => fail(`${prefix}: ${msgOf(e)}`);

const GO_ERRNO: Record<string, string> = { EEXIST: 'file exists', EISDIR: 'is a directory' };
/** Go's errno text for a Node fs error (libuv and Go share strerror's wording but for a few). */
function errno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code && GO_ERRNO[err.code]) return GO_ERRNO[err.code]!;
  return /^[A-Z0-9_]+: ([^,]+)/.exec(err.message ?? '')?.[1] ?? msgOf(e);
}
const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
/** Run `fn`, turning an fs error into Go's *PathError text `op path: errno`. */
function io<T>(op: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new InstallError(`${op} ${path}: ${errno(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The manifest, decoded like encoding/json into main.go's structs.

type Field = 'string' | 'int' | 'bool' | '[]string' | '[]any' | 'map' | { struct: string; fields: Record<string, Field>; slice?: true };
const SECRET: Field = {
  struct: 'secret',
  slice: true,
  fields: {
    name: 'string',
    key: 'string',
    path: 'string',
    owner: 'string',
    uid: 'int',
    group: 'string',
    gid: 'int',
    sopsFile: 'string',
    format: 'string',
    mode: 'string',
    restartUnits: '[]string',
    reloadUnits: '[]string',
  },
};
const MANIFEST: Field = {
  struct: 'manifest',
  fields: {
    secrets: SECRET,
    templates: '[]any',
    placeholderBySecretName: 'map',
    secretsMountPoint: 'string',
    symlinkPath: 'string',
    keepGenerations: 'int',
    sshKeyPaths: '[]string',
    gnupgHome: 'string',
    ageKeyFile: 'string',
    ageSshKeyPaths: '[]string',
    useTmpfs: 'bool',
    userMode: 'bool',
    logging: { struct: 'loggingConfig', fields: { keyImport: 'bool', secretChanges: 'bool' } },
  },
};
const jsonKind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v);

function typeError(v: unknown, f: Field, ctx: { struct: string; path: string[] } | undefined): string | undefined {
  if (v === null || v === undefined) return undefined;
  const bad = (goType: string, value = jsonKind(v)) =>
    `json: cannot unmarshal ${value} into ${ctx ? `Go struct field ${ctx.struct}.${ctx.path.join('.')}` : 'Go value'} of type ${goType}`;
  if (f === 'string') return typeof v === 'string' ? undefined : bad('string');
  if (f === 'bool') return typeof v === 'boolean' ? undefined : bad('bool');
  if (f === 'int') return typeof v !== 'number' ? bad('int') : Number.isInteger(v) ? undefined : bad('int', `number ${v}`);
  if (f === '[]string') {
    if (!Array.isArray(v)) return bad('[]string');
    for (const x of v) if (typeof x !== 'string' && x !== null) return bad('string');
    return undefined;
  }
  if (f === '[]any') return Array.isArray(v) ? undefined : bad('[]main.template');
  if (f === 'map') {
    if (typeof v !== 'object' || Array.isArray(v)) return bad('map[string]string');
    for (const x of Object.values(v as object)) if (typeof x !== 'string' && x !== null) return bad('string');
    return undefined;
  }
  const items = f.slice ? (Array.isArray(v) ? v : undefined) : [v];
  if (!items) return bad(`[]main.${f.struct}`);
  for (const item of items) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      if (item !== null) return bad(`main.${f.struct}`, jsonKind(item));
      continue;
    }
    for (const [k, sub] of Object.entries(f.fields)) {
      const err = typeError((item as Record<string, unknown>)[k], sub, { struct: f.struct, path: [...(ctx?.path ?? []), k] });
      if (err) return err;
    }
  }
  return undefined;
}

export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(`failed to parse manifest: ${msgOf(e)}`);
  }
  const err =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? typeError(raw, MANIFEST, undefined)
      : raw === null
        ? undefined
        : `json: cannot unmarshal ${jsonKind(raw)} into Go value of type main.manifest`;
  if (err) fail(`failed to parse manifest: ${err}`);
  return (raw ?? {}) as Manifest;
}

export function readManifest(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(`failed to open manifest: open ${path}: ${errno(e)}`);
  }
  return parseManifest(text);
}

// ---------------------------------------------------------------------------------------------
// Secrets.

interface Secret {
  name: string;
  key: string;
  path: string;
  ownerName: string | null;
  groupName: string | null;
  uid: number;
  gid: number;
  sopsFile: string;
  format: Format;
  mode: string;
  restartUnits: string[];
  reloadUnits: string[];
  perm: number;
  owner: number;
  group: number;
  value: Buffer;
}

function toSecret(s: ManifestSecret): Secret {
  const f = s.format ?? '';
  return {
    name: s.name ?? '',
    key: s.key ?? '',
    path: s.path ?? '',
    ownerName: s.owner ?? null,
    groupName: s.group ?? null,
    uid: s.uid ?? 0,
    gid: s.gid ?? 0,
    sopsFile: s.sopsFile ?? '',
    // FormatType.UnmarshalJSON keeps the zero value for unknown names, which then means yaml.
    format: (['yaml', 'json', 'binary', 'dotenv', 'ini'].includes(f) ? f : 'yaml') as Format,
    mode: s.mode ?? '',
    restartUnits: (s.restartUnits ?? []).filter((u): u is string => typeof u === 'string'),
    reloadUnits: (s.reloadUnits ?? []).filter((u): u is string => typeof u === 'string'),
    perm: 0,
    owner: 0,
    group: 0,
    value: Buffer.alloc(0),
  };
}

const goQuote = (s: string) => JSON.stringify(s);

/** recurseSecretKey: `a/b/c` walks nested maps; strings as they are, other JSON values marshalled. */
export function recurseSecretKey(format: 'yaml' | 'json', keys: Record<string, unknown>, wantedKey: string): string {
  let current: Record<string, unknown> = keys;
  let rest = wantedKey;
  let soFar = '';
  let val: unknown;
  for (;;) {
    const slash = rest.indexOf('/');
    if (slash < 0) {
      if (!Object.hasOwn(current, rest)) fail(`the key '${soFar ? soFar + '/' : ''}${rest}' cannot be found`);
      val = current[rest];
      break;
    }
    const k = rest.slice(0, slash);
    soFar = soFar ? `${soFar}/${k}` : k;
    rest = rest.slice(slash + 1);
    if (!Object.hasOwn(current, k)) fail(`the key '${soFar}' cannot be found`);
    const v = current[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`key '${soFar}' does not refer to a dictionary`);
    current = v as Record<string, unknown>;
  }
  if (typeof val === 'string') return val;
  if (format === 'json') return goJson(val);
  return fail(`nested secrets are not supported for ${format}`);
}

/** encoding/json.Marshal of a decoded value: compact, sorted keys, HTML-safe escapes. */
function goJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${goJson(k)}:${goJson(o[k])}`)
    .join(',')}}`;
}

function parseMode(mode: string): number {
  if (!/^[0-7]+$/.test(mode)) fail(`invalid number in mode: ${mode}: strconv.ParseUint: parsing ${goQuote(mode)}: invalid syntax`);
  const n = parseInt(mode, 8);
  if (n > 0xffff) fail(`invalid number in mode: ${mode}: strconv.ParseUint: parsing ${goQuote(mode)}: value out of range`);
  return n;
}

function lookupId(db: '/etc/passwd' | '/etc/group', name: string): number | undefined {
  let text = '';
  try {
    text = readFileSync(db, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  return undefined;
}
function lookupUser(name: string): number {
  return lookupId('/etc/passwd', name) ?? fail(`failed to lookup user '${name}': user: unknown user ${name}`);
}
function lookupGroup(name: string): number {
  return lookupId('/etc/group', name) ?? fail(`failed to lookup group '${name}': group: unknown group ${name}`);
}
function lookupKeysGroup(): number {
  const keys = lookupId('/etc/group', 'keys');
  if (keys !== undefined) return keys;
  const nogroup = lookupId('/etc/group', 'nogroup');
  if (nogroup !== undefined) return nogroup;
  return fail("can't find group 'keys' nor 'nogroup' (failed to lookup 'keys' group: group: unknown group nogroup)");
}

// ---------------------------------------------------------------------------------------------
// ed25519 SSH key -> age X25519 identity (ssh-to-age's SSHPrivateKeyToAge).

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
function bech32(hrp: string, data: Buffer): string {
  const h = hrp.toLowerCase();
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >> bits) & 31);
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  const codes = [...h].map((c) => c.charCodeAt(0));
  for (const v of [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31), ...words, 0, 0, 0, 0, 0, 0]) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >> i) & 1) chk ^= GEN[i]!;
  }
  chk ^= 1;
  const sum = [0, 1, 2, 3, 4, 5].map((i) => (chk >>> (5 * (5 - i))) & 31);
  return `${h}1${[...words, ...sum].map((w) => BECH32[w]).join('')}`;
}

const GO_KEY_TYPES: Record<string, string> = {
  'ssh-rsa': '*rsa.PrivateKey',
  'ssh-dss': '*dsa.PrivateKey',
  'RSA PRIVATE KEY': '*rsa.PrivateKey',
  'EC PRIVATE KEY': '*ecdsa.PrivateKey',
  'DSA PRIVATE KEY': '*dsa.PrivateKey',
};

/** Returns the age identity (AGE-SECRET-KEY-1…) and its recipient (age1…). */
export function sshPrivateKeyToAge(pem: string): { identity: string; recipient: string } {
  const parseFail = (m: string): never => fail(`failed to parse ssh private key: ${m}`);
  const unsupported = (t: string): never => fail(`got ${t} key type but: only ed25519 keys are supported`);
  const block = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem) ?? parseFail('ssh: no key found');
  const kind = block[1]!;
  if (kind !== 'OPENSSH PRIVATE KEY') return GO_KEY_TYPES[kind] ? unsupported(GO_KEY_TYPES[kind]!) : parseFail(`ssh: unsupported key type ${goQuote(kind)}`);
  const reader = (buf: Buffer) => {
    let at = 0;
    const u32 = () => {
      if (at + 4 > buf.length) parseFail('ssh: malformed OpenSSH key');
      at += 4;
      return buf.readUInt32BE(at - 4);
    };
    const bytes = (n = u32()) => {
      if (at + n > buf.length) parseFail('ssh: malformed OpenSSH key');
      at += n;
      return buf.subarray(at - n, at);
    };
    return { u32, bytes };
  };
  const outer = reader(Buffer.from(block[2]!.replace(/\s+/g, ''), 'base64'));
  if (outer.bytes(15).toString('latin1') !== 'openssh-key-v1\0') parseFail('ssh: invalid openssh private key format');
  const cipher = outer.bytes().toString();
  outer.bytes();
  outer.bytes();
  if (outer.u32() !== 1) parseFail('ssh: multi-key files are not supported');
  outer.bytes();
  if (cipher !== 'none') parseFail('ssh: this private key is passphrase protected');
  const inner = reader(outer.bytes());
  const check = inner.u32();
  if (check !== inner.u32()) parseFail('ssh: malformed OpenSSH key');
  const type = inner.bytes().toString();
  if (type !== 'ssh-ed25519') {
    return type.startsWith('ecdsa-sha2-')
      ? unsupported('*ecdsa.PrivateKey')
      : GO_KEY_TYPES[type]
        ? unsupported(GO_KEY_TYPES[type]!)
        : parseFail('ssh: unhandled key type');
  }
  inner.bytes();
  const seed = inner.bytes().subarray(0, 32);
  const scalar = createHash('sha512').update(seed).digest().subarray(0, 32);
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), scalar]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  return { identity: bech32('AGE-SECRET-KEY-', scalar).toUpperCase(), recipient: bech32('age', Buffer.from(jwk.x!, 'base64url')) };
}

// ---------------------------------------------------------------------------------------------
// Installing.

const RAMFS_MAGIC = -2054924042;
const TMPFS_MAGIC = 16914836;

function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 19);
  const abs = Math.abs(off);
  const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return local + zone;
}

function replaceRuntimeDir(path: string, rundir: string): string {
  return path
    .split('%%')
    .map((p) => p.split('%r').join(rundir))
    .join('%');
}

/** The sops library's error text (decrypt.File), as sops-install-secrets wraps it. */
function sopsLibraryError(e: unknown): string {
  if (e instanceof SopsError) {
    const key = /^Error getting data key: \d+ successful groups required, got \d+/.exec(e.message);
    if (key) return key[0];
    const mac = /^MAC mismatch\. File has (.*), computed (.*)$/.exec(e.message);
    if (mac) return `Failed to verify data integrity. expected mac ${goQuote(mac[1] === 'no MAC' ? '' : mac[1]!)}, got ${goQuote(mac[2]!)}`;
    if (e.exitCode === SopsExit.macMismatch) return `Failed to decrypt original mac: ${e.message.replace(/^Cannot decrypt MAC: /, '')}`;
  }
  return msgOf(e);
}

export async function installSecrets(manifest: Manifest, opts: InstallOptions = {}): Promise<InstallResult> {
  const root = opts.root ?? '/';
  const r = (p: string) => (root === '/' ? p : join(root, p));
  const unroot = (t: string) => (root !== '/' && t.startsWith(root.replace(/\/$/, '') + '/') ? t.slice(root.replace(/\/$/, '').length) : t);
  const env = opts.env ?? process.env;
  const checkMode = opts.checkMode ?? 'off';
  const ignorePasswd = opts.ignorePasswd ?? false;
  const program = opts.programName ?? 'sops-install-secrets';
  const result: InstallResult = { added: [], modified: [], removed: [], restartUnits: [], reloadUnits: [], stdout: [], stderr: [] };
  const say = (stream: 'stdout' | 'stderr', line: string) => {
    result[stream].push(line);
    opts.write?.(stream, line);
  };

  if ((manifest.templates ?? []).length > 0) fail('templates are not supported by this lab stand-in of sops-install-secrets');
  const secrets = (manifest.secrets ?? []).filter((s): s is ManifestSecret => s !== null).map(toSecret);
  for (const s of secrets) {
    if (s.format === 'dotenv' || s.format === 'ini')
      fail(`secret ${s.name}: the ${s.format} format is not supported by this lab stand-in of sops-install-secrets`);
  }
  const userMode = manifest.userMode ?? false;
  let mountPoint = manifest.secretsMountPoint ?? '';
  let symlinkPath = manifest.symlinkPath ?? '';
  const keep = manifest.keepGenerations ?? 0;
  const logging = { keyImport: manifest.logging?.keyImport ?? false, secretChanges: manifest.logging?.secretChanges ?? false };
  const gnupgHome = manifest.gnupgHome ?? '';
  const sshKeyPaths = (manifest.sshKeyPaths ?? []).filter((p): p is string => typeof p === 'string');
  const ageSshKeyPaths = (manifest.ageSshKeyPaths ?? []).filter((p): p is string => typeof p === 'string');
  const ageKeyFile = manifest.ageKeyFile ?? '';

  if (userMode) {
    const rundir = env['XDG_RUNTIME_DIR'];
    if (checkMode === 'off' && rundir === undefined) fail('cannot figure out runtime directory: $XDG_RUNTIME_DIR is not set');
    mountPoint = replaceRuntimeDir(mountPoint, rundir ?? '');
    symlinkPath = replaceRuntimeDir(symlinkPath, rundir ?? '');
    for (const s of secrets) s.path = replaceRuntimeDir(s.path, rundir ?? '');
  }

  // validateManifest
  const isDry = env['NIXOS_ACTION'] === 'dry-activate';
  const files = new Map<string, { first: Secret; keys?: Record<string, unknown> }>();
  try {
    if (gnupgHome !== '') {
      const both = (o: string) => `gnupgHome and ${o} were specified in the manifest. Both options are mutually exclusive.`;
      if (sshKeyPaths.length > 0) fail(both('sshKeyPaths'));
      if (ageKeyFile !== '') fail(both('ageKeyFile'));
    }
    for (const s of secrets) {
      s.perm = parseMode(s.mode);
      if (ignorePasswd || isDry) [s.owner, s.group] = [0, 0];
      else if (checkMode === 'off') {
        s.owner = s.ownerName === null ? s.uid : lookupUser(s.ownerName);
        s.group = s.groupName === null ? s.gid : lookupGroup(s.groupName);
      }
      let file = files.get(s.sopsFile);
      if (!file) {
        file = { first: s, keys: checkMode === 'manifest' ? undefined : loadSopsKeys(s) };
        files.set(s.sopsFile, file);
      }
      if (file.first.format !== s.format) {
        fail(`secret ${s.name} defined the format of ${s.sopsFile} as ${s.format}, but it was specified as ${file.first.format} in ${file.first.name} before`);
      }
      if (checkMode !== 'manifest' && (s.format === 'yaml' || s.format === 'json') && s.key !== '') {
        try {
          recurseSecretKey(s.format, file.keys ?? {}, s.key);
        } catch (e) {
          wrap(`secret ${s.name} in ${s.sopsFile} is not valid`, e);
        }
      }
    }
  } catch (e) {
    wrap('manifest is not valid', e);
  }

  function loadSopsKeys(s: Secret): Record<string, unknown> | undefined {
    let text: string;
    try {
      text = readFileSync(r(s.sopsFile), 'utf8');
    } catch (e) {
      return fail(`failed reading ${s.sopsFile}: open ${s.sopsFile}: ${errno(e)}`);
    }
    let keys: unknown;
    const what = s.format === 'yaml' ? 'yaml' : 'json';
    try {
      if (s.format === 'yaml') {
        const docs = parseAllDocuments(text);
        const doc = Array.isArray(docs) ? docs[0] : undefined;
        if (doc?.errors.length) throw doc.errors[0];
        keys = doc?.toJS() ?? {};
      } else keys = JSON.parse(text);
      if (keys !== null && (typeof keys !== 'object' || Array.isArray(keys)))
        throw new Error(`cannot unmarshal ${jsonKind(keys)} into map[string]interface {}`);
    } catch (e) {
      return fail(`cannot parse ${what} of '${s.sopsFile}': ${msgOf(e)}`);
    }
    return s.format === 'binary' ? undefined : ((keys ?? {}) as Record<string, unknown>);
  }

  if (checkMode !== 'off') return result;

  if (sshKeyPaths.length > 0) {
    fail(
      `sshKeyPaths is set (${sshKeyPaths.join(', ')}): this lab stand-in of sops-install-secrets does not convert SSH keys to GPG keys; use ageKeyFile or ageSshKeyPaths`,
    );
  }

  const keysGid = ignorePasswd ? 0 : lookupKeysGroup();

  // MountSecretFs
  try {
    if (mountPoint === '') fail(`cannot create directory '': mkdir : no such file or directory`);
    try {
      io('mkdir', mountPoint, () => mkdirSync(r(mountPoint), { recursive: true, mode: 0o751 }));
    } catch (e) {
      wrap(`cannot create directory '${mountPoint}'`, e);
    }
    if (!userMode) {
      if (opts.mount ?? root === '/') {
        const [fstype, magic] = manifest.useTmpfs ? ['tmpfs', TMPFS_MAGIC] : ['ramfs', RAMFS_MAGIC];
        let type = 0;
        try {
          type = statfsSync(r(mountPoint)).type;
        } catch (e) {
          fail(`cannot get statfs for directory '${mountPoint}': ${errno(e)}`);
        }
        if ((type | 0) !== magic) {
          const m = spawnSync('mount', ['-t', fstype, '-o', 'nodev,nosuid,mode=0751', 'none', r(mountPoint)], { encoding: 'utf8' });
          if (m.status !== 0) fail(`cannot mount: ${(m.stderr || m.error?.message || `exit status ${m.status}`).trim().replace(/^mount: /, '')}`);
        }
      }
      try {
        io('chown', mountPoint, () => chownSync(r(mountPoint), 0, keysGid));
      } catch (e) {
        wrap(`cannot change owner/group of '${mountPoint}' to 0/${keysGid}`, e);
      }
    }
  } catch (e) {
    wrap('failed to mount filesystem for secrets', e);
  }

  // Age keys: a fresh key file on the secrets file system, as SOPS_AGE_KEY_FILE.
  const identityFiles: string[] = [];
  if (ageSshKeyPaths.length > 0 || ageKeyFile !== '') {
    const keyfile = join(mountPoint, 'age-keys.txt');
    let fd: number;
    try {
      fd = io('open', keyfile, () => openSync(r(keyfile), 'w', 0o600));
    } catch (e) {
      return wrap(`cannot create '${keyfile}'`, e);
    }
    try {
      writeSync(fd, `# generated by sops-nix at ${rfc3339(opts.now ?? new Date())}\n`);
      for (const p of ageSshKeyPaths) {
        let pem: string;
        try {
          pem = io('open', p, () => readFileSync(r(p), 'utf8'));
        } catch (e) {
          say('stderr', `Cannot read ssh key '${p}': ${msgOf(e)}`);
          continue;
        }
        let converted: { identity: string; recipient: string };
        try {
          converted = sshPrivateKeyToAge(pem);
        } catch (e) {
          say('stderr', `Cannot convert ssh key '${p}': ${msgOf(e)}`);
          continue;
        }
        writeSync(fd, converted.identity + '\n');
        if (logging.keyImport) say('stderr', `${program}: Imported ${p} as age key with fingerprint ${converted.recipient}`);
      }
      if (ageKeyFile !== '') {
        let contents: Buffer;
        try {
          contents = io('open', ageKeyFile, () => readFileSync(r(ageKeyFile)));
        } catch (e) {
          return wrap(`cannot read keyfile '${ageKeyFile}'`, e);
        }
        writeSync(fd, Buffer.concat([contents, Buffer.from('\n')]));
      }
    } finally {
      closeSync(fd);
    }
    identityFiles.push(r(keyfile));
  }

  // decryptSecrets: all of them before anything is written.
  const decrypted = new Map<string, DecryptedSops>();
  for (const s of secrets) {
    let d = decrypted.get(s.sopsFile);
    if (!d) {
      let text: string;
      try {
        text = readFileSync(r(s.sopsFile), 'utf8');
      } catch (e) {
        return fail(`failed to decrypt '${s.sopsFile}': Failed to read ${goQuote(s.sopsFile)}: open ${s.sopsFile}: ${errno(e)}`);
      }
      try {
        d = await decryptSopsFileDetailed(text, s.format === 'yaml' ? 'yaml' : 'json', identityFiles, { gnupgHome: gnupgHome ? r(gnupgHome) : undefined });
      } catch (e) {
        return fail(`failed to decrypt '${s.sopsFile}': ${sopsLibraryError(e)}`);
      }
      decrypted.set(s.sopsFile, d);
    }
    if (s.format === 'binary') {
      const data = d.tree['data'];
      if (data === undefined) fail(`failed to decrypt '${s.sopsFile}': error emitting binary store: no binary data found in tree`);
      if (typeof data !== 'string') fail(`failed to decrypt '${s.sopsFile}': error emitting binary store: 'data' key in tree does not have a string value`);
      s.value = Buffer.from(data as string);
    } else if (s.key === '') {
      s.value = Buffer.from(s.format === 'yaml' ? emitYaml(d.branches) : emitJson(d.branches[0] ?? { t: 'map', items: [] }) + '\n');
    } else {
      try {
        s.value = Buffer.from(recurseSecretKey(s.format as 'yaml' | 'json', d.tree as Record<string, SopsValue>, s.key));
      } catch (e) {
        wrap(`secret ${s.name} in ${s.sopsFile} is not valid`, e);
      }
    }
  }

  // prepareSecretsDir
  let secretDir = '';
  try {
    let generation = 0;
    let linkTarget: string | undefined;
    try {
      linkTarget = unroot(readlinkSync(r(symlinkPath)));
    } catch (e) {
      if (!isENOENT(e)) fail(`cannot access ${symlinkPath}: readlink ${symlinkPath}: ${errno(e)}`);
    }
    if (linkTarget?.startsWith(mountPoint)) {
      const base = basename(linkTarget);
      if (!/^\d+$/.test(base)) fail(`cannot parse ${base} of ${linkTarget} as a number: strconv.ParseUint: parsing ${goQuote(base)}: invalid syntax`);
      generation = Number(base);
    }
    generation++;
    secretDir = join(mountPoint, String(generation));
    const dir = secretDir;
    if (existsSync(r(dir)) || isBrokenLink(r(dir))) {
      try {
        io('unlinkat', dir, () => rmSync(r(dir), { recursive: true, force: true }));
      } catch (e) {
        wrap(`cannot remove existing ${dir}`, e);
      }
    }
    try {
      io('mkdir', dir, () => mkdirSync(r(dir), 0o751));
    } catch (e) {
      wrap('mkdir()', e);
    }
    if (!userMode) {
      try {
        io('chown', dir, () => chownSync(r(dir), 0, keysGid));
      } catch (e) {
        wrap(`cannot change owner/group of '${dir}' to 0/${keysGid}`, e);
      }
    }
    result.generation = generation;
    result.secretDir = dir;
  } catch (e) {
    wrap('failed to prepare new secrets directory', e);
  }

  // writeSecrets
  try {
    for (const s of secrets) {
      const fp = join(secretDir, s.name);
      let soFar = secretDir;
      for (const d of dirname(s.name).split('/')) {
        soFar = join(soFar, d);
        const here = soFar;
        try {
          io('mkdir', here, () => mkdirSync(r(here), { recursive: true, mode: 0o751 }));
        } catch (e) {
          wrap(`cannot create directory '${here}' for ${fp}`, e);
        }
        if (!userMode) {
          try {
            io('chown', here, () => chownSync(r(here), 0, keysGid));
          } catch (e) {
            wrap(`cannot own directory '${here}' for ${fp}`, e);
          }
        }
      }
      try {
        io('open', fp, () => writeFileSync(r(fp), s.value, { mode: s.perm & 0o777 }));
      } catch (e) {
        wrap(`cannot write ${fp}`, e);
      }
      if (!userMode) {
        try {
          io('chown', fp, () => chownSync(r(fp), s.owner, s.group));
        } catch (e) {
          wrap(`cannot change owner/group of '${fp}' to ${s.owner}/${s.group}`, e);
        }
      }
    }
  } catch (e) {
    wrap('cannot write secrets', e);
  }

  if (!userMode) {
    try {
      handleModifications();
    } catch (e) {
      wrap('cannot request units to restart', e);
    }
  }

  function handleModifications(): void {
    try {
      statSync(r(symlinkPath));
    } catch (e) {
      if (isENOENT(e)) return;
    }
    const restart: string[] = [];
    const reload: string[] = [];
    for (const s of secrets) {
      const oldPath = join(symlinkPath, s.name);
      let oldData: Buffer;
      try {
        oldData = readFileSync(r(oldPath));
      } catch (e) {
        if (isENOENT(e)) {
          restart.push(...s.restartUnits);
          reload.push(...s.reloadUnits);
          result.added.push(s.name);
          continue;
        }
        return fail(`${(e as NodeJS.ErrnoException).code === 'EISDIR' ? 'read' : 'open'} ${oldPath}: ${errno(e)}`);
      }
      const newPath = join(secretDir, s.name);
      const newData = io('open', newPath, () => readFileSync(r(newPath)));
      if (!oldData.equals(newData)) {
        restart.push(...s.restartUnits);
        reload.push(...s.reloadUnits);
        result.modified.push(s.name);
      }
    }
    result.restartUnits = restart;
    result.reloadUnits = reload;
    const prefix = isDry ? '/run/nixos/dry-activation' : '/run/nixos/activation';
    for (const [list, file] of [
      [restart, `${prefix}-restart-list`],
      [reload, `${prefix}-reload-list`],
    ] as const) {
      if (list.length === 0 || !existsSync(r(dirname(file)))) continue;
      io('open', file, () => appendFileSync(r(file), list.map((u) => u + '\n').join(''), { mode: 0o600 }));
    }
    if (!logging.secretChanges) return;
    const removedTemplates: string[] = [];
    const walk = (rel: string) => {
      for (const entry of readdirSync(r(join(symlinkPath, rel))).sort()) {
        const p = rel ? `${rel}/${entry}` : entry;
        if (statSync(r(join(symlinkPath, p))).isDirectory()) walk(p);
        else if (p === 'rendered' || p.startsWith('rendered/')) removedTemplates.push(p.slice('rendered/'.length));
        else if (!secrets.some((s) => s.name === p)) result.removed.push(p);
      }
    };
    walk('');
    const out = (noun: string, names: string[], regular: string, dry: string) => {
      if (names.length === 0) return;
      say('stdout', `${isDry ? dry : regular} ${noun}${names.length === 1 ? '' : 's'}: ${[...new Set(names)].sort().join(', ')}`);
    };
    out('secret', result.added, 'adding', 'would add');
    out('secret', result.modified, 'modifying', 'would modify');
    out('secret', result.removed, 'removing', 'would remove');
    out('rendered secret', removedTemplates, 'removing', 'would remove');
  }

  if (isDry) return result;

  // symlinkSecretsAndTemplates
  try {
    for (const s of secrets) {
      const targetFile = join(symlinkPath, s.name);
      if (targetFile === s.path) continue;
      const parent = dirname(s.path);
      try {
        io('mkdir', parent, () => mkdirSync(r(parent), { recursive: true, mode: 0o777 }));
      } catch (e) {
        wrap(`cannot create parent directory of '${s.path}'`, e);
      }
      try {
        createSymlink(targetFile, s);
      } catch (e) {
        wrap(`failed to symlink secret '${s.path}'`, e);
      }
    }
  } catch (e) {
    wrap('failed to prepare symlinks to secret store', e);
  }

  function createSymlink(targetFile: string, s: Secret): void {
    const want = r(targetFile);
    for (;;) {
      let st: Stats;
      try {
        st = lstatSync(r(s.path));
      } catch (e) {
        if (!isENOENT(e)) fail(`cannot stat '${s.path}': lstat ${s.path}: ${errno(e)}`);
        try {
          symlinkSync(want, r(s.path));
        } catch (e2) {
          fail(`cannot create symlink '${s.path}': symlink ${targetFile} ${s.path}: ${errno(e2)}`);
        }
        if (!userMode) {
          try {
            lchownSync(r(s.path), s.owner, s.group);
          } catch (e2) {
            fail(`cannot chown symlink '${s.path}': cannot change owner of '${s.path}' to ${s.owner}/${s.group}: ${errno(e2)}`);
          }
        }
        return;
      }
      if (st.isSymbolicLink()) {
        let linkTarget: string;
        try {
          linkTarget = readlinkSync(r(s.path));
        } catch (e) {
          if (isENOENT(e)) continue;
          return fail(`cannot read symlink '${s.path}': readlink ${s.path}: ${errno(e)}`);
        }
        if (linkTarget === want && st.uid === s.owner && st.gid === s.group) return;
      }
      try {
        if (st.isDirectory()) rmdirSync(r(s.path));
        else unlinkSync(r(s.path));
      } catch (e) {
        fail(`cannot override ${s.path}: remove ${s.path}: ${errno(e)}`);
      }
    }
  }

  // atomicSymlink
  try {
    const parent = dirname(symlinkPath);
    io('mkdir', parent, () => mkdirSync(r(parent), { recursive: true, mode: 0o755 }));
    let exists = false;
    try {
      symlinkSync(r(secretDir), r(symlinkPath));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') fail(`symlink ${secretDir} ${symlinkPath}: ${errno(e)}`);
      exists = true;
    }
    if (exists) {
      const tmp = io('mkdirtemp', parent, () => mkdtempSync(join(r(parent), '.' + basename(symlinkPath))));
      try {
        symlinkSync(r(secretDir), join(tmp, 'tmp.symlink'));
        io('rename', symlinkPath, () => renameSync(join(tmp, 'tmp.symlink'), r(symlinkPath)));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  } catch (e) {
    wrap('cannot update secrets symlink', e);
  }

  // pruneGenerations
  if (keep !== 0) {
    const current = result.generation!;
    let names: string[];
    try {
      names = io('open', mountPoint, () => readdirSync(r(mountPoint)));
    } catch (e) {
      return wrap('cannot prune old secrets generations', `cannot open ${mountPoint}: ${msgOf(e)}`);
    }
    for (const name of names) {
      if (!/^[+-]?\d+$/.test(name)) continue;
      const n = Number(name);
      if (n !== current && current - keep >= n) rmSync(r(join(mountPoint, name)), { recursive: true, force: true });
    }
  }
  return result;
}

function isBrokenLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
