// The sops file format (getsops/sops, the subset sops-nix relies on): YAML and JSON stores, the
// AES256_GCM value cipher, the SHA-512 MAC, age-wrapped data keys (via the real `age` binary)
// and sops' own YAML/JSON emitters (yaml.v3 with indent 4; encoding/json with tabs).
// Not covered: PGP data keys (their metadata is read, never decrypted), Shamir key groups,
// KMS/Vault keys, YAML comments (sops encrypts them; we drop them, which the MAC allows since
// comments are not hashed), dotenv/ini stores.
import { spawn } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Alias, isMap, isScalar, isSeq, parseAllDocuments, type Document } from 'yaml';

export type SopsValue = string | number | boolean | null | SopsValue[] | SopsTree;
export type SopsTree = { [k: string]: SopsValue };
export type SopsFormat = 'yaml' | 'json';

/** sops' own exit codes (cmd/sops/codes). */
export const SopsExit = {
  generic: 1,
  couldNotReadInputFile: 2,
  errorDumpingTree: 4,
  errorDecryptingTree: 25,
  macMismatch: 51,
  invalidTreePathFormat: 91,
  noFileSpecified: 100,
  couldNotRetrieveKey: 128,
} as const;

export class SopsError extends Error {
  /** `userMessage` is what the sops CLI prints (its UserError), `message` what the library returns. */
  constructor(
    message: string,
    readonly exitCode: number = SopsExit.generic,
    readonly userMessage?: string,
  ) {
    super(message);
    this.name = 'SopsError';
  }
}

// ---------------------------------------------------------------------------------------------
// Internal tree: ordered, with Go's value kinds (int vs float matters for `type:` and the MAC).

export type Scalar = { t: 'str'; v: string } | { t: 'int'; v: bigint } | { t: 'float'; v: number } | { t: 'bool'; v: boolean } | { t: 'null' };
export type Node = Scalar | { t: 'map'; items: Array<[string, Node]> } | { t: 'seq'; items: Node[] };
type MapNode = Extract<Node, { t: 'map' }>;

const str = (v: string): Scalar => ({ t: 'str', v });
const mapNode = (items: Array<[string, Node]>): MapNode => ({ t: 'map', items });

export function toPlain(n: Node): SopsValue {
  switch (n.t) {
    case 'map':
      return Object.fromEntries(n.items.map(([k, v]) => [k, toPlain(v)]));
    case 'seq':
      return n.items.map(toPlain);
    case 'int':
      return Number(n.v);
    case 'null':
      return null;
    default:
      return n.v;
  }
}

export function fromPlain(v: SopsValue): Node {
  if (v === null) return { t: 'null' };
  if (Array.isArray(v)) return { t: 'seq', items: v.map(fromPlain) };
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'boolean':
      return { t: 'bool', v };
    case 'number':
      return Number.isInteger(v) && Number.isSafeInteger(v) ? { t: 'int', v: BigInt(v) } : { t: 'float', v };
    case 'object':
      return mapNode(Object.entries(v).map(([k, x]) => [k, fromPlain(x)]));
    default:
      throw new SopsError(`unsupported value of type ${typeof v}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Go formatting helpers.

function shortestDigits(n: number): { neg: boolean; digits: string; exp: number } {
  const [mant, e] = Math.abs(n).toExponential().split('e');
  return { neg: n < 0, digits: mant!.replace('.', ''), exp: Number(e) };
}

function fixedFromDigits(digits: string, exp: number): string {
  const dp = exp + 1;
  if (dp <= 0) return `0.${'0'.repeat(-dp)}${digits}`;
  if (dp >= digits.length) return digits + '0'.repeat(dp - digits.length);
  return `${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

/** strconv.FormatFloat(f, 'f', -1, 64): what sops hashes and encrypts for floats. */
export function goFormatFloatF(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const { neg, digits, exp } = shortestDigits(n);
  return (neg ? '-' : '') + fixedFromDigits(digits, exp);
}

/** strconv.FormatFloat(f, 'g', -1, 64) as yaml.v3 emits floats. */
function yamlFloat(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (!Number.isFinite(n)) return n > 0 ? '.inf' : '-.inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const { neg, digits, exp } = shortestDigits(n);
  let body: string;
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    body = `${digits[0]}${digits.length > 1 ? '.' + digits.slice(1) : ''}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  } else body = fixedFromDigits(digits, exp);
  return (neg ? '-' : '') + body;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** strconv.ParseInt(s, 0, 64), falling back to ParseUint as yaml.v3 does. */
function goParseInt(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  let v = /^0[xXbBoO]/.test(body)
    ? BigInt(body.slice(0, 2).toLowerCase() + body.slice(2))
    : body.length > 1 && body.startsWith('0')
      ? BigInt('0o' + body.slice(1))
      : BigInt(body);
  if (m[1] === '-') v = -v;
  return v >= INT64_MIN && v <= UINT64_MAX ? v : undefined;
}

const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d*)?(?:[ \t]*(?:Z|[+-]\d{1,2}(?::\d{2})?))?)?$/;

/** yaml.v3's resolve() for an untagged plain scalar: the kind a Go `interface{}` receives. */
export function resolvePlain(s: string): Scalar {
  switch (s) {
    case 'true':
    case 'True':
    case 'TRUE':
      return { t: 'bool', v: true };
    case 'false':
    case 'False':
    case 'FALSE':
      return { t: 'bool', v: false };
    case '':
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return { t: 'null' };
    case '.nan':
    case '.NaN':
    case '.NAN':
      return { t: 'float', v: NaN };
    case '.inf':
    case '.Inf':
    case '.INF':
    case '+.inf':
    case '+.Inf':
    case '+.INF':
      return { t: 'float', v: Infinity };
    case '-.inf':
    case '-.Inf':
    case '-.INF':
      return { t: 'float', v: -Infinity };
  }
  const c = s[0]!;
  if (c === '.') {
    if (/^\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9]+)?$/.test(s)) return { t: 'float', v: Number(s.replace(/_/g, '')) };
  } else if (/[-+0-9]/.test(c)) {
    // Go's yaml.v3 yields a time.Time here, which sops cannot walk; keep such values as text.
    if (TIMESTAMP.test(s)) return str(s);
    const plain = s.replace(/_/g, '');
    const i = goParseInt(plain);
    if (i !== undefined) return { t: 'int', v: i };
    if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(plain)) return { t: 'float', v: Number(plain) };
  }
  return str(s);
}

// ---------------------------------------------------------------------------------------------
// Loading: YAML via `yaml` (structure) + yaml.v3 scalar resolution; JSON via an order-keeping
// tokenizer whose numbers are all float64, like Go's json.Decoder.Token.

function yamlToNode(n: unknown, doc: Document, seen: Set<unknown> = new Set()): Node {
  if (n instanceof Alias) {
    const target = n.resolve(doc);
    if (!target) throw new SopsError(`Error unmarshaling input YAML: unknown anchor '${n.source}' referenced`);
    if (seen.has(target)) throw new SopsError('Error unmarshaling input YAML: anchor cycle');
    return yamlToNode(target, doc, new Set(seen).add(target));
  }
  if (isMap(n)) {
    return mapNode(
      n.items.map((p) => {
        const k = p.key === null ? { t: 'null' as const } : yamlToNode(p.key, doc, seen);
        if (k.t === 'map' || k.t === 'seq') throw new SopsError('Tree contains a non-string key. Only string keys are supported');
        return [k.t === 'null' ? '' : String(k.v), p.value === null ? { t: 'null' } : yamlToNode(p.value, doc, seen)];
      }),
    );
  }
  if (isSeq(n)) return { t: 'seq', items: n.items.map((x) => (x === null ? { t: 'null' } : yamlToNode(x, doc, seen))) };
  if (isScalar(n)) {
    const text = n.source ?? String(n.value ?? '');
    if (n.type !== 'PLAIN' || n.tag === 'tag:yaml.org,2002:str') return str(String(n.value));
    if (n.tag === 'tag:yaml.org,2002:binary') return str(Buffer.from(String(n.value).replace(/\s+/g, ''), 'base64').toString());
    return resolvePlain(text);
  }
  if (n === null || n === undefined) return { t: 'null' };
  throw new SopsError(`Error unmarshaling input YAML: unexpected node ${String(n)}`);
}

function loadYaml(text: string): MapNode[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((doc) => {
    const err = doc.errors[0];
    if (err) throw new SopsError(`Error unmarshaling input YAML: ${err.message}`);
    const root = doc.contents === null ? { t: 'null' as const } : yamlToNode(doc.contents, doc);
    if (root.t === 'null') return mapNode([]);
    if (root.t === 'seq') throw new SopsError('Error unmarshaling input YAML: YAML documents that are sequences are not supported');
    if (root.t !== 'map') throw new SopsError('Error unmarshaling input YAML: YAML documents that are values are not supported');
    return root;
  });
}

function loadJson(text: string): MapNode {
  let i = 0;
  const fail = (what: string): never => {
    throw new SopsError(`Error unmarshalling input json: ${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(i));
    if (!m) return fail('invalid string');
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const value = (): Node => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const items: Array<[string, Node]> = [];
      ws();
      if (text[i] === '}') return i++, mapNode(items);
      for (;;) {
        ws();
        const k = string();
        ws();
        if (text[i++] !== ':') fail("expected ':'");
        items.push([k, value()]);
        ws();
        const d = text[i++];
        if (d === '}') return mapNode(items);
        if (d !== ',') fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items: Node[] = [];
      ws();
      if (text[i] === ']') return i++, { t: 'seq', items };
      for (;;) {
        items.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return { t: 'seq', items };
        if (d !== ',') fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str(string());
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?)/.exec(text.slice(i));
    if (!m) return fail('invalid character');
    i += m[0].length;
    if (m[0] === 'null') return { t: 'null' };
    if (m[0] === 'true' || m[0] === 'false') return { t: 'bool', v: m[0] === 'true' };
    return { t: 'float', v: Number(m[0]) };
  };
  ws();
  if (text[i] !== '{') {
    throw new SopsError("Could not unmarshal input data: SOPS only supports JSON files with a top-level object (starting with '{')");
  }
  const root = value();
  ws();
  if (i < text.length) fail('invalid character after top-level value');
  return root as MapNode;
}

// ---------------------------------------------------------------------------------------------
// Parsed file and metadata.

export interface AgeKey {
  recipient: string;
  enc: string;
}
export interface SopsMetadata {
  age: AgeKey[];
  pgp: Array<{ fp: string; enc: string; created_at?: string }>;
  mac?: string;
  lastmodified?: string;
  version?: string;
  unencrypted_suffix?: string;
  encrypted_suffix?: string;
  unencrypted_regex?: string;
  encrypted_regex?: string;
  mac_only_encrypted?: boolean;
  /** Every other key under `sops:` (kms, gcp_kms, azure_kv, hc_vault, key_groups, ...). */
  other: Record<string, unknown>;
}
export interface SopsLeaf {
  /** The key path sops uses (list indexes are not part of it). */
  path: string[];
  /** Where the leaf is, with list indexes. */
  at: Array<string | number>;
  raw: unknown;
  /** The raw value is an `ENC[AES256_GCM,...]` string. */
  encrypted: boolean;
}
export interface ParsedSops {
  format: SopsFormat;
  values: SopsLeaf[];
  metadata: SopsMetadata;
  /** Leaf paths (joined with '.') that the metadata's rules leave in plain text. */
  plainByDesign: string[];
  /** The documents without their `sops` key (YAML may hold several). */
  branches: MapNode[];
}

const META_KEYS = [
  'age',
  'pgp',
  'mac',
  'lastmodified',
  'version',
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'mac_only_encrypted',
] as const;

export const ENC_RE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;

function readMetadata(node: Node | undefined): SopsMetadata | undefined {
  if (!node || node.t === 'null') return undefined;
  if (node.t !== 'map') throw new SopsError('Error unmarshalling input: sops metadata is not a mapping');
  const raw = toPlain(node) as Record<string, unknown>;
  const s = (k: string): string | undefined => (raw[k] === undefined || raw[k] === null ? undefined : String(raw[k]));
  const list = (k: string): Array<Record<string, unknown>> =>
    Array.isArray(raw[k]) ? (raw[k] as unknown[]).filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : [];
  const other = Object.fromEntries(Object.entries(raw).filter(([k]) => !(META_KEYS as readonly string[]).includes(k)));
  const meta: SopsMetadata = {
    age: list('age').map((a) => ({ recipient: String(a['recipient'] ?? '').trim(), enc: String(a['enc'] ?? '') })),
    pgp: list('pgp').map((p) => ({
      fp: String(p['fp'] ?? ''),
      enc: String(p['enc'] ?? ''),
      created_at: p['created_at'] === undefined ? undefined : String(p['created_at']),
    })),
    mac: s('mac'),
    lastmodified: s('lastmodified'),
    version: s('version'),
    unencrypted_suffix: s('unencrypted_suffix'),
    encrypted_suffix: s('encrypted_suffix'),
    unencrypted_regex: s('unencrypted_regex'),
    encrypted_regex: s('encrypted_regex'),
    mac_only_encrypted: raw['mac_only_encrypted'] === true,
    other,
  };
  return meta;
}

interface Rules {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: RegExp;
  encryptedRegex?: RegExp;
  macOnlyEncrypted: boolean;
}

function goRegexp(src: string): RegExp {
  try {
    return new RegExp(src, 'u');
  } catch {
    return new RegExp(src);
  }
}

/** stores.Metadata.ToInternal: at most one rule; none means the default `_unencrypted` suffix. */
function rulesOf(m: Pick<SopsMetadata, 'unencrypted_suffix' | 'encrypted_suffix' | 'unencrypted_regex' | 'encrypted_regex' | 'mac_only_encrypted'>): Rules {
  const set = [m.unencrypted_suffix, m.encrypted_suffix, m.unencrypted_regex, m.encrypted_regex].filter((x) => x);
  if (set.length > 1) {
    throw new SopsError('Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex or unencrypted_regex in the same file');
  }
  return {
    unencryptedSuffix: set.length === 0 ? '_unencrypted' : m.unencrypted_suffix || undefined,
    encryptedSuffix: m.encrypted_suffix || undefined,
    unencryptedRegex: m.unencrypted_regex ? goRegexp(m.unencrypted_regex) : undefined,
    encryptedRegex: m.encrypted_regex ? goRegexp(m.encrypted_regex) : undefined,
    macOnlyEncrypted: m.mac_only_encrypted === true,
  };
}

/** Tree.shouldBeEncrypted (without the comment rules). */
function shouldBeEncrypted(path: string[], r: Rules): boolean {
  let enc = true;
  if (r.unencryptedSuffix && path.some((p) => p.endsWith(r.unencryptedSuffix!))) enc = false;
  if (r.encryptedSuffix) enc = path.some((p) => p.endsWith(r.encryptedSuffix!));
  if (r.unencryptedRegex && path.some((p) => r.unencryptedRegex!.test(p))) enc = false;
  if (r.encryptedRegex) enc = path.some((p) => r.encryptedRegex!.test(p));
  return enc;
}

type Visit = (leaf: Scalar, path: string[], at: Array<string | number>) => Scalar;

/** walkBranch: leaves in document order; nil values are skipped (neither hashed nor encrypted). */
function walk(n: Node, path: string[], at: Array<string | number>, visit: Visit): Node {
  switch (n.t) {
    case 'map':
      return mapNode(n.items.map(([k, v]) => [k, walk(v, [...path, k], [...at, k], visit)]));
    case 'seq':
      return { t: 'seq', items: n.items.map((v, i) => walk(v, path, [...at, i], visit)) };
    case 'null':
      return n;
    default:
      return visit(n, path, at);
  }
}

function rawOf(s: Scalar): unknown {
  return s.t === 'null' ? null : s.t === 'int' ? Number(s.v) : s.v;
}

export function parseSopsFile(text: string, format: SopsFormat): ParsedSops {
  const docs = format === 'json' ? [loadJson(text)] : loadYaml(text);
  const metaNode = docs[0]?.items.find(([k]) => k === 'sops')?.[1];
  const metadata = readMetadata(metaNode);
  if (!metadata) throw new SopsError('sops metadata not found');
  const branches = docs.map((d) => mapNode(d.items.filter(([k]) => k !== 'sops')));
  const rules = rulesOf(metadata);
  const values: SopsLeaf[] = [];
  const plain = new Set<string>();
  for (const b of branches) {
    walk(b, [], [], (leaf, path, at) => {
      values.push({ path, at, raw: rawOf(leaf), encrypted: leaf.t === 'str' && ENC_RE.test(leaf.v) });
      if (!shouldBeEncrypted(path, rules)) plain.add(path.join('.'));
      return leaf;
    });
  }
  return { format, values, metadata, plainByDesign: [...plain], branches };
}

/** LoadEncryptedFile's checks beyond parsing: a parseable lastmodified and at least one key. */
function checkLoadable(p: ParsedSops): void {
  normalizeLastModified(p.metadata.lastmodified ?? '');
  if (p.metadata.other['key_groups'] !== undefined && p.metadata.age.length === 0 && p.metadata.pgp.length === 0) {
    throw new SopsError('key_groups (Shamir secret sharing) are not supported by this implementation');
  }
  const others = ['kms', 'gcp_kms', 'azure_kv', 'hc_vault'].some((k) => Array.isArray(p.metadata.other[k]) && (p.metadata.other[k] as unknown[]).length > 0);
  if (p.metadata.age.length === 0 && p.metadata.pgp.length === 0 && !others) throw new SopsError('No keys found in file');
}

/** time.Parse(time.RFC3339, s).Format(time.RFC3339): the MAC's additional data. */
export function normalizeLastModified(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) throw new SopsError(`parsing time "${s}" as "2006-01-02T15:04:05Z07:00": cannot parse "${s}"`);
  const zone = m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3];
  return `${m[1]}T${m[2]}${zone}`;
}

// ---------------------------------------------------------------------------------------------
// The value cipher (aes/cipher.go) and the MAC (sops.go ToBytes + sha512, "%X").

function b64(s: string, what: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
    throw new SopsError(`Error base64-decoding ${what}: illegal base64 data`);
  }
  return Buffer.from(s, 'base64');
}

function scalarBytes(s: Scalar): { type: string; bytes: Buffer } {
  switch (s.t) {
    case 'str':
      return { type: 'str', bytes: Buffer.from(s.v, 'utf8') };
    case 'int':
      return { type: 'int', bytes: Buffer.from(s.v.toString()) };
    case 'float':
      return { type: 'float', bytes: Buffer.from(goFormatFloatF(s.v)) };
    case 'bool':
      return { type: 'bool', bytes: Buffer.from(s.v ? 'True' : 'False') };
    case 'null':
      throw new SopsError('Value to encrypt has unsupported type <nil>');
  }
}

export function encryptValue(value: Scalar, key: Buffer, additionalData: string): string {
  if (value.t === 'str' && value.v === '') return '';
  const { type, bytes } = scalarBytes(value);
  const iv = randomBytes(32);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(additionalData, 'utf8'));
  const data = Buffer.concat([c.update(bytes), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

export function decryptValue(ciphertext: string, key: Buffer, additionalData: string): Scalar {
  if (ciphertext === '') return str('');
  const m = ENC_RE.exec(ciphertext);
  if (!m) throw new SopsError(`Input string ${ciphertext} does not match sops' data format`);
  const [data, iv, tag] = [b64(m[1]!, 'data'), b64(m[2]!, 'iv'), b64(m[3]!, 'tag')];
  const type = m[4]!;
  if (iv.length === 0 || tag.length !== 16) throw new SopsError('Could not decrypt with AES_GCM: cipher: message authentication failed');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(additionalData, 'utf8'));
    d.setAuthTag(tag);
    plain = Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new SopsError('Could not decrypt with AES_GCM: cipher: message authentication failed');
  }
  const text = plain.toString('utf8');
  switch (type) {
    case 'str':
    case 'bytes':
      return str(text);
    case 'int':
    case 'int64': {
      if (!/^[+-]?\d+$/.test(text)) throw new SopsError(`strconv.Atoi: parsing "${text}": invalid syntax`);
      return { t: 'int', v: BigInt(text) };
    }
    case 'float': {
      const v = /^[+-]?(inf(inity)?)$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : /^nan$/i.test(text) ? NaN : Number(text.replace(/_/g, ''));
      if (Number.isNaN(v) && !/^nan$/i.test(text)) throw new SopsError(`strconv.ParseFloat: parsing "${text}": invalid syntax`);
      return { t: 'float', v };
    }
    case 'bool': {
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return { t: 'bool', v: true };
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return { t: 'bool', v: false };
      throw new SopsError(`strconv.ParseBool: parsing "${text}": invalid syntax`);
    }
    default:
      throw new SopsError(`Unknown datatype: ${type}`);
  }
}

const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

/** Tree.Decrypt: decrypts every leaf the rules say is encrypted and returns the computed MAC. */
export function decryptBranches(branches: MapNode[], metadata: SopsMetadata, dataKey: Buffer): { branches: MapNode[]; mac: string } {
  const rules = rulesOf(metadata);
  const hash = createHash('sha512');
  if (rules.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const out = branches.map(
    (b) =>
      walk(b, [], [], (leaf, path) => {
        const enc = shouldBeEncrypted(path, rules);
        let v = leaf;
        if (enc) {
          if (leaf.t !== 'str')
            throw new SopsError(
              `Error decrypting tree: Error walking tree: Could not decrypt value: Input string ${String(leaf.t === 'null' ? '' : leaf.v)} does not match sops' data format`,
              SopsExit.errorDecryptingTree,
            );
          try {
            v = decryptValue(leaf.v, dataKey, path.join(':') + ':');
          } catch (e) {
            throw new SopsError(`Error decrypting tree: Error walking tree: Could not decrypt value: ${(e as Error).message}`, SopsExit.errorDecryptingTree);
          }
        }
        if (!rules.macOnlyEncrypted || enc) hash.update(scalarBytes(v).bytes);
        return v;
      }) as MapNode,
  );
  return { branches: out, mac: hash.digest('hex').toUpperCase() };
}

/** Tree.Encrypt: encrypts what the rules say and returns the MAC over the plaintext. */
function encryptBranches(branches: MapNode[], rules: Rules, dataKey: Buffer): { branches: MapNode[]; mac: string } {
  const hash = createHash('sha512');
  if (rules.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const out = branches.map(
    (b) =>
      walk(b, [], [], (leaf, path) => {
        const enc = shouldBeEncrypted(path, rules);
        if (!rules.macOnlyEncrypted || enc) hash.update(scalarBytes(leaf).bytes);
        return enc ? str(encryptValue(leaf, dataKey, path.join(':') + ':')) : leaf;
      }) as MapNode,
  );
  return { branches: out, mac: hash.digest('hex').toUpperCase() };
}

// ---------------------------------------------------------------------------------------------
// Data key: the age binary, secrets only on stdin/stdout.

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function run(cmd: string, args: string[], input: Buffer | string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input);
  });
}

/** age.MasterKey.Encrypt: an ASCII-armored age file holding the data key. */
export async function encryptDataKey(dataKey: Buffer, recipient: string): Promise<string> {
  const r = await run('age', ['-a', '-r', recipient], dataKey);
  if (r.code !== 0) throw new SopsError(`failed to encrypt sops data key with age: ${ageError(r.stderr)}`);
  return r.stdout.toString();
}

function ageError(stderr: string): string {
  const m = /^age: error: (.*)$/m.exec(stderr);
  return (m ? m[1]! : stderr.trim().split('\n')[0]) || 'unknown error';
}

export interface KeyAttempt {
  key: string;
  error: string;
}

export interface DataKeyOptions {
  /** age identity files, tried together (like `age -i a -i b`). */
  identityFiles: string[];
  /** Errors met while gathering identities, reported like sops does. */
  identityErrors?: string[];
}

/** Metadata.GetDataKey for one key group: age keys, the first success wins; PGP keys are not tried. */
export async function decryptDataKey(meta: SopsMetadata, opts: DataKeyOptions): Promise<{ dataKey: Buffer; by: string }> {
  const attempts: KeyAttempt[] = [];
  for (const k of meta.age) {
    if (opts.identityFiles.length === 0) {
      // sops 3.9 stops at the first identity it cannot load (reference/sops.md §2).
      const extra = opts.identityErrors?.length ? `: ${opts.identityErrors[0]}` : '';
      attempts.push({ key: k.recipient, error: `failed to load age identities${extra}` });
      continue;
    }
    const r = await run('age', ['-d', ...opts.identityFiles.flatMap((f) => ['-i', f])], k.enc);
    if (r.code === 0 && r.stdout.length > 0) return { dataKey: r.stdout, by: k.recipient };
    attempts.push({ key: k.recipient, error: `failed to create reader for decrypting sops data key with age: ${ageError(r.stderr)}` });
  }
  for (const k of meta.pgp)
    attempts.push({ key: k.fp, error: 'could not decrypt data key with PGP key: not attempted (this implementation decrypts with age only)' });
  for (const kind of ['kms', 'gcp_kms', 'azure_kv', 'hc_vault']) {
    const list = meta.other[kind];
    if (Array.isArray(list)) for (const _ of list) attempts.push({ key: kind, error: `${kind} keys are not supported by this implementation` });
  }
  const recipients = meta.age.map((a) => a.recipient);
  const pgp = meta.pgp.map((p) => p.fp);
  const have = [
    recipients.length ? `age recipients ${recipients.join(', ')}` : 'no age recipients',
    ...(pgp.length ? [`PGP keys ${pgp.join(', ')}`] : []),
  ].join(' and ');
  throw new SopsError(
    `Error getting data key: 0 successful groups required, got 0 (no identity in ${opts.identityFiles.join(', ') || '(none)'} could decrypt the data key; the file has ${have})`,
    SopsExit.couldNotRetrieveKey,
    dataKeyUserError(attempts),
  );
}

/** go-wordwrap's WrapString: greedy on spaces, long words are not split. */
function wordWrap(s: string, lim: number): string {
  return s
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let cur = '';
      for (const w of line.split(' ')) {
        if (cur !== '' && cur.length + 1 + w.length > lim) {
          out.push(cur);
          cur = w;
        } else cur = cur === '' ? w : `${cur} ${w}`;
      }
      out.push(cur);
      return out.join('\n');
    })
    .join('\n');
}

const prefixLines = (s: string, p: string) =>
  s
    .split('\n')
    .map((l) => p + l)
    .join('\n');

/** getDataKeyError.UserError() for a single key group (colors off, as when not on a terminal). */
function dataKeyUserError(attempts: KeyAttempt[]): string {
  const keys = attempts.map((a) => {
    const msg = prefixLines(wordWrap(a.error, 60), '  | ');
    return `${a.key}: FAILED\n${prefixLines('-' + msg.slice(1), '  ')}`;
  });
  const trailer = wordWrap(
    'Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.',
    75,
  );
  return `Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n${prefixLines(keys.join('\n\n'), '  ')}\n\n${trailer}`;
}

// ---------------------------------------------------------------------------------------------
// High-level API.

export interface DecryptOptions {
  /** Like `sops --ignore-mac`: report `macOk: false` instead of throwing. */
  ignoreMac?: boolean;
  identityErrors?: string[];
}

export interface DecryptedSops {
  tree: SopsTree;
  macOk: boolean;
  parsed: ParsedSops;
  branches: MapNode[];
  /** The recipient whose entry gave the data key. */
  decryptedBy: string;
}

export async function decryptSopsFileDetailed(
  text: string,
  format: SopsFormat,
  identityFile: string | string[],
  opts: DecryptOptions = {},
): Promise<DecryptedSops> {
  const parsed = parseSopsFile(text, format);
  checkLoadable(parsed);
  const files = (Array.isArray(identityFile) ? identityFile : [identityFile]).filter((f) => f);
  const { dataKey, by } = await decryptDataKey(parsed.metadata, { identityFiles: files, identityErrors: opts.identityErrors });
  const { branches, mac } = decryptBranches(parsed.branches, parsed.metadata, dataKey);
  const macOk = verifyMac(parsed.metadata, dataKey, mac, opts.ignoreMac === true);
  const tree = toPlain(branches[0] ?? mapNode([])) as SopsTree;
  return { tree, macOk, parsed, branches, decryptedBy: by };
}

function verifyMac(meta: SopsMetadata, dataKey: Buffer, computed: string, ignore: boolean): boolean {
  let fileMac: string;
  try {
    const v = decryptValue(meta.mac ?? '', dataKey, normalizeLastModified(meta.lastmodified ?? ''));
    fileMac = v.t === 'str' ? v.v : String(toPlain(v));
  } catch (e) {
    if (ignore) return false;
    throw new SopsError(`Cannot decrypt MAC: ${(e as Error).message}`, SopsExit.macMismatch);
  }
  if (fileMac === computed) return true;
  if (ignore) return false;
  throw new SopsError(`MAC mismatch. File has ${fileMac || 'no MAC'}, computed ${computed}`, SopsExit.macMismatch);
}

export async function decryptSopsFile(
  text: string,
  format: SopsFormat,
  identityFile: string | string[],
  opts: DecryptOptions = {},
): Promise<{ tree: SopsTree; macOk: boolean }> {
  const { tree, macOk } = await decryptSopsFileDetailed(text, format, identityFile, opts);
  return { tree, macOk };
}

export interface EncryptOptions {
  now?: Date;
  version?: string;
  unencryptedRegex?: string;
  encryptedRegex?: string;
}

export const DEFAULT_SOPS_VERSION = '3.7.3';

/** `sops -e` with `--age` recipients; YAML laid out like sops 3.7 writes it. */
export async function encryptSopsFile(tree: SopsTree | MapNode, recipients: string[], format: SopsFormat, opts: EncryptOptions = {}): Promise<string> {
  if (recipients.length === 0) throw new SopsError('no age recipients given');
  const root = isMapNode(tree) ? tree : (fromPlain(tree) as MapNode);
  if (root.items.some(([k]) => k === 'sops')) throw new SopsError('File already encrypted', 203);
  const rules = rulesOf({ unencrypted_regex: opts.unencryptedRegex, encrypted_regex: opts.encryptedRegex });
  const dataKey = randomBytes(32);
  const { branches, mac } = encryptBranches([root], rules, dataKey);
  const lastmodified = (opts.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const age = await Promise.all(recipients.map(async (r) => ({ recipient: r.trim(), enc: await encryptDataKey(dataKey, r.trim()) })));
  const encMac = encryptValue(str(mac), dataKey, lastmodified);
  const empty = format === 'json' ? ({ t: 'null' } as Node) : ({ t: 'seq', items: [] } as Node);
  const metaItems: Array<[string, Node | undefined]> = [
    ['kms', empty],
    ['gcp_kms', empty],
    ['azure_kv', empty],
    ['hc_vault', empty],
    [
      'age',
      {
        t: 'seq',
        items: age.map((a) =>
          mapNode([
            ['recipient', str(a.recipient)],
            ['enc', str(a.enc)],
          ]),
        ),
      },
    ],
    ['lastmodified', str(lastmodified)],
    ['mac', str(encMac)],
    ['pgp', empty],
    ['unencrypted_suffix', rules.unencryptedSuffix ? str(rules.unencryptedSuffix) : undefined],
    ['unencrypted_regex', opts.unencryptedRegex ? str(opts.unencryptedRegex) : undefined],
    ['encrypted_regex', opts.encryptedRegex ? str(opts.encryptedRegex) : undefined],
    ['version', str(opts.version ?? DEFAULT_SOPS_VERSION)],
  ];
  const sops = mapNode(metaItems.filter((e): e is [string, Node] => e[1] !== undefined));
  const doc = mapNode([...branches[0]!.items, ['sops', sops]]);
  return format === 'json' ? emitJson(doc) + '\n' : emitYaml([doc]);
}

export function encryptSopsYaml(tree: SopsTree, recipients: string[], opts: EncryptOptions = {}): Promise<string> {
  return encryptSopsFile(tree, recipients, 'yaml', opts);
}

function isMapNode(x: unknown): x is MapNode {
  return !!x && typeof x === 'object' && (x as { t?: unknown }).t === 'map' && Array.isArray((x as { items?: unknown }).items);
}

/** Plain (unencrypted) documents as sops' stores read them, for `sops -e`. */
export function loadPlainFile(text: string, format: SopsFormat): MapNode[] {
  return format === 'json' ? [loadJson(text)] : loadYaml(text);
}

// ---------------------------------------------------------------------------------------------
// --extract

/** parseTreePath from cmd/sops/main.go. */
export function parseTreePath(arg: string): Array<string | number> {
  const path: Array<string | number> = [];
  for (const component of arg.split('[')) {
    if (component === '') continue;
    if (!component.endsWith(']')) throw new SopsError(`component ${component} doesn't end with ]`, SopsExit.invalidTreePathFormat);
    const c = component.slice(0, -1);
    if (c.startsWith('"') || c.startsWith("'")) path.push(c.slice(1, -1));
    else if (/^[+-]?\d+$/.test(c)) path.push(Number(c));
    else throw new SopsError(`strconv.Atoi: parsing "${c}": invalid syntax`, SopsExit.invalidTreePathFormat);
  }
  return path;
}

/** TreeBranch.Truncate. */
export function truncate(n: Node, path: Array<string | number>): Node {
  let cur = n;
  for (const c of path) {
    if (typeof c === 'string') {
      const hit = cur.t === 'map' ? cur.items.find(([k]) => k === c) : undefined;
      if (!hit) throw new SopsError(`component ['${c}'] not found`);
      cur = hit[1];
    } else {
      if (cur.t !== 'seq') throw new SopsError(`component [${c}] is integer, but tree part is not a slice`);
      if (c < 0 || cur.items.length <= c) throw new SopsError(`component [${c}] accesses out of bounds`);
      cur = cur.items[c]!;
    }
  }
  return cur;
}

/** `sops -d --extract SELECTOR` on a decrypted tree, e.g. `extract(tree, '["nested"]["test"]')`. */
export function extract(tree: SopsTree, selector: string): SopsValue {
  return toPlain(truncate(fromPlain(tree), parseTreePath(selector)));
}

// ---------------------------------------------------------------------------------------------
// Emitters. YAML follows gopkg.in/yaml.v3's emitter with SetIndent(4), the way sops' YAML store
// builds nodes; JSON follows sops' JSON store (encoding/json values, json.Indent with a tab).

type Style = 'plain' | 'single' | 'double' | 'literal';

const isBreakCp = (cp: number) => cp === 0x0a || cp === 0x0d || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
const isPrintableCp = (cp: number) =>
  cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);

interface Analysis {
  multiline: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

/** yaml_emitter_analyze_scalar (block context: flow_plain_allowed is never consulted here). */
function analyze(value: string): Analysis {
  if (value === '') return { multiline: false, blockPlain: true, single: true, block: false };
  const cps = Array.from(value, (c) => c.codePointAt(0)!);
  let blockInd = value.startsWith('---') || value.startsWith('...');
  let lineBreaks = false,
    special = false,
    tabs = false;
  let leadingSpace = false,
    leadingBreak = false,
    trailingSpace = false,
    trailingBreak = false;
  let breakSpace = false,
    spaceBreak = false,
    prevSpace = false,
    prevBreak = false;
  let precededByWs = true;
  const blank = (j: number) => j >= cps.length || cps[j] === 0x20 || cps[j] === 0x09;
  const blankz = (j: number) => blank(j) || isBreakCp(cps[j]!) || cps[j] === 0;
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    const ch = String.fromCodePoint(cp);
    const followedByWs = i + 1 >= cps.length || blank(i + 1);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockInd = true;
      else if ((ch === '?' || ch === ':' || ch === '-') && followedByWs) blockInd = true;
    } else if ((ch === ':' && followedByWs) || (ch === '#' && precededByWs)) blockInd = true;
    if (cp === 0x09) tabs = true;
    else if (!isPrintableCp(cp)) special = true;
    if (cp === 0x20) {
      if (i === 0) leadingSpace = true;
      if (i === cps.length - 1) trailingSpace = true;
      if (prevBreak) breakSpace = true;
      prevSpace = true;
      prevBreak = false;
    } else if (isBreakCp(cp)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === cps.length - 1) trailingBreak = true;
      if (prevSpace) spaceBreak = true;
      prevSpace = false;
      prevBreak = true;
    } else {
      prevSpace = false;
      prevBreak = false;
    }
    precededByWs = blankz(i);
  }
  let blockPlain = true,
    single = true,
    block = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlain = false;
  if (trailingSpace) block = false;
  if (breakSpace) blockPlain = single = false;
  if (spaceBreak || tabs || special) blockPlain = single = false;
  if (spaceBreak || special) block = false;
  if (lineBreaks || blockInd) blockPlain = false;
  return { multiline: lineBreaks, blockPlain, single, block };
}

const BASE60 = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const OLD_BOOLS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** yaml_emitter_select_scalar_style in block context. */
function selectStyle(req: Style, v: string, simpleKey: boolean): Style {
  const a = analyze(v);
  let style = req;
  if (simpleKey && a.multiline) style = 'double';
  if (style === 'plain') {
    if (!a.blockPlain) style = 'single';
    if (v === '' && simpleKey) style = 'single';
  }
  if (style === 'single' && !a.single) style = 'double';
  if (style === 'literal' && (!a.block || simpleKey)) style = 'double';
  return style;
}

/**
 * sops builds nodes with Node.Encode(value): yaml.v3 marshals the string on its own (stringv
 * picks the style), parses that back, then emits the node. Its literal writer drops one leading
 * line break, so such values really lose one on each of the two passes; we reproduce that.
 */
function nodeEncode(s: string): { v: string; req: Style } {
  const canUsePlain = resolvePlain(s).t === 'str' && !TIMESTAMP.test(s) && !BASE60.test(s) && !OLD_BOOLS.has(s) && s !== '<<';
  const req = selectStyle(s.includes('\n') ? 'literal' : canUsePlain ? 'plain' : 'double', s, false);
  return { v: req === 'literal' && s.startsWith('\n') ? s.slice(1) : s, req };
}

const ESCAPES: Record<number, string> = {
  0x00: '0',
  0x07: 'a',
  0x08: 'b',
  0x09: 't',
  0x0a: 'n',
  0x0b: 'v',
  0x0c: 'f',
  0x0d: 'r',
  0x1b: 'e',
  0x22: '"',
  0x5c: '\\',
  0x85: 'N',
  0xa0: '_',
  0x2028: 'L',
  0x2029: 'P',
};

class YamlEmitter {
  out = '';
  private column = 0;
  private whitespace = true;
  private indention = true;
  private indent = -1;
  private readonly indents: number[] = [];

  private put(s: string) {
    this.out += s;
    this.column += Array.from(s).length;
  }
  private putBreak() {
    this.out += '\n';
    this.column = 0;
    this.indention = true;
  }
  private writeIndent() {
    const ind = Math.max(this.indent, 0);
    if (!this.indention || this.column > ind || (this.column === ind && !this.whitespace)) this.putBreak();
    while (this.column < ind) this.put(' ');
    this.whitespace = true;
  }
  private indicator(s: string, needWs: boolean, isWs: boolean, isIndention: boolean) {
    if (needWs && !this.whitespace) this.put(' ');
    this.put(s);
    this.whitespace = isWs;
    this.indention = this.indention && isIndention;
  }
  /** yaml_emitter_increase_indent; `inSeqItem` is "the state below is BLOCK_SEQUENCE_ITEM". */
  private increase(flow: boolean, inSeqItem: boolean) {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? 4 : 0;
    else this.indent = inSeqItem ? this.indent + 2 : 4 * Math.floor((this.indent + 4) / 4);
  }
  private pop() {
    this.indent = this.indents.pop()!;
  }

  document(n: Node, first: boolean) {
    if (!first) this.indicator('---', true, false, false);
    this.node(n, false, false);
    this.writeIndent();
  }

  private node(n: Node, inSeqItem: boolean, simpleKey: boolean) {
    if (n.t === 'map' || n.t === 'seq') {
      if (n.items.length === 0) {
        this.indicator(n.t === 'map' ? '{' : '[', true, true, false);
        this.indicator(n.t === 'map' ? '}' : ']', false, false, false);
        return;
      }
      this.increase(false, inSeqItem);
      if (n.t === 'seq') {
        for (const item of n.items) {
          this.writeIndent();
          this.indicator('-', true, false, true);
          this.node(item, true, false);
        }
      } else {
        for (const [k, v] of n.items) {
          this.writeIndent();
          const key = nodeEncode(k);
          if (!analyze(key.v).multiline && Buffer.byteLength(key.v) <= 128) {
            this.scalar(key, false, true);
            this.indicator(':', false, false, false);
          } else {
            this.indicator('?', true, false, true);
            this.scalar(key, false, false);
            this.writeIndent();
            this.indicator(':', true, false, true);
          }
          this.node(v, false, false);
        }
      }
      this.pop();
      return;
    }
    switch (n.t) {
      case 'str':
        return this.scalar(nodeEncode(n.v), inSeqItem, simpleKey);
      case 'int':
        return this.plain(n.v.toString(), inSeqItem);
      case 'float':
        return this.plain(yamlFloat(n.v), inSeqItem);
      case 'bool':
        return this.plain(n.v ? 'true' : 'false', inSeqItem);
      case 'null':
        return this.plain('null', inSeqItem);
    }
  }

  private plain(text: string, inSeqItem: boolean) {
    this.increase(true, inSeqItem);
    if (text !== '' && !this.whitespace) this.put(' ');
    this.put(text);
    if (text !== '') this.whitespace = false;
    this.indention = false;
    this.pop();
  }

  private scalar({ v: s, req }: { v: string; req: Style }, inSeqItem: boolean, simpleKey: boolean) {
    if (s === '<<') return this.plain('!!merge <<', inSeqItem); // yaml.v3 re-tags a "<<" string as a merge key
    const style = selectStyle(req, s, simpleKey);
    if (style === 'plain') return this.plain(s, inSeqItem);
    this.increase(true, inSeqItem);
    if (style === 'single') {
      this.indicator("'", true, false, false);
      this.put(s.replace(/'/g, "''"));
      this.indicator("'", false, false, false);
    } else if (style === 'double') {
      this.indicator('"', true, false, false);
      let body = '';
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        if (!isPrintableCp(cp) || isBreakCp(cp) || cp === 0x22 || cp === 0x5c) {
          const e = ESCAPES[cp];
          const hex = cp.toString(16).toUpperCase();
          body += '\\' + (e ?? (cp <= 0xff ? 'x' + hex.padStart(2, '0') : cp <= 0xffff ? 'u' + hex.padStart(4, '0') : 'U' + hex.padStart(8, '0')));
        } else body += ch;
      }
      this.put(body);
      this.indicator('"', false, false, false);
    } else {
      this.literal(s);
      return this.pop();
    }
    this.whitespace = false;
    this.indention = false;
    this.pop();
  }

  private literal(s: string) {
    this.indicator('|', true, false, false);
    if (s.startsWith(' ') || isBreakCp(s.codePointAt(0)!)) this.indicator('4', false, false, false);
    const trailing = /\n*$/.exec(s)![0].length;
    if (trailing === 0) this.indicator('-', false, false, false);
    else if (trailing >= 2 || s === '\n') this.indicator('+', false, false, false);
    this.whitespace = true;
    let breaks = true;
    for (const ch of s) {
      if (ch === '\n') {
        this.putBreak();
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

/** The YAML store's EmitPlainFile (several branches become several documents). */
export function emitYaml(branches: Node[]): string {
  const e = new YamlEmitter();
  branches.forEach((b, i) => e.document(b, i === 0));
  return e.out;
}

/** The YAML store's EmitValue (used for `--extract` of non-string values). */
export function emitYamlValue(n: Node): string {
  return emitYaml([n]);
}

function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The JSON store's encodeValue + json.Indent("", "\t"). */
export function emitJson(n: Node, depth = 0): string {
  const pad = '\t'.repeat(depth + 1);
  const end = '\t'.repeat(depth);
  switch (n.t) {
    case 'map':
      if (n.items.length === 0) return '{}';
      return `{\n${n.items.map(([k, v]) => `${pad}${goJsonString(k)}: ${emitJson(v, depth + 1)}`).join(',\n')}\n${end}}`;
    case 'seq':
      if (n.items.length === 0) return '[]';
      return `[\n${n.items.map((v) => pad + emitJson(v, depth + 1)).join(',\n')}\n${end}]`;
    case 'str':
      return goJsonString(n.v);
    case 'int':
      return n.v.toString();
    case 'float':
      if (!Number.isFinite(n.v)) throw new SopsError(`Error marshaling to json: json: unsupported value: ${goFormatFloatF(n.v)}`, SopsExit.errorDumpingTree);
      return Object.is(n.v, -0) ? '-0' : JSON.stringify(n.v);
    case 'bool':
      return String(n.v);
    case 'null':
      return 'null';
  }
}
