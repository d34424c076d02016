// The sops file format as read (getsops/sops, the subset sops-nix relies on): the YAML and JSON
// stores into an ordered tree with yaml.v3's scalar kinds, the `sops:` metadata, and which leaves
// its rules leave in plain text (parseSopsFile). The harness reads committed files with it and
// never decrypts (it runs the real sops on hosts); the lab's sops (lab/src/sops/: the cipher, the
// MAC, age data keys, the emitters) is built on this tree, reached through lab/src/harness.ts.
// Not covered: YAML comments (dropped; sops does not hash them), dotenv/ini stores.
import { Alias, isMap, isScalar, isSeq, parseAllDocuments, type Document } from 'yaml';

export type SopsValue = string | number | boolean | null | SopsValue[] | SopsTree;
export type SopsTree = { [k: string]: SopsValue };
export type SopsFormat = 'yaml' | 'json';

export class SopsError extends Error {
  /** `userMessage` is what the sops CLI prints (its UserError), `message` what the library returns. */
  constructor(
    message: string,
    readonly exitCode: number = 1, // sops' generic exit code
    readonly userMessage?: string,
  ) {
    super(message);
    this.name = 'SopsError';
  }
}

// ---------------------------------------------------------------------------------------------
// The tree: ordered, with Go's value kinds (int vs float matters for `type:` and the MAC).

export type Scalar = { t: 'str'; v: string } | { t: 'int'; v: bigint } | { t: 'float'; v: number } | { t: 'bool'; v: boolean } | { t: 'null' };
export type Node = Scalar | { t: 'map'; items: Array<[string, Node]> } | { t: 'seq'; items: Node[] };
export type MapNode = Extract<Node, { t: 'map' }>;

export const str = (v: string): Scalar => ({ t: 'str', v });
export const mapNode = (items: Array<[string, Node]>): MapNode => ({ t: 'map', items });

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

// ---------------------------------------------------------------------------------------------
// Scalar resolution: the kind yaml.v3 gives an untagged plain scalar.

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

export const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d*)?(?:[ \t]*(?:Z|[+-]\d{1,2}(?::\d{2})?))?)?$/;

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

export function loadYaml(text: string): MapNode[] {
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

export function loadJson(text: string): MapNode {
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

export interface Rules {
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
export function rulesOf(
  m: Pick<SopsMetadata, 'unencrypted_suffix' | 'encrypted_suffix' | 'unencrypted_regex' | 'encrypted_regex' | 'mac_only_encrypted'>,
): Rules {
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
export function shouldBeEncrypted(path: string[], r: Rules): boolean {
  let enc = true;
  if (r.unencryptedSuffix && path.some((p) => p.endsWith(r.unencryptedSuffix!))) enc = false;
  if (r.encryptedSuffix) enc = path.some((p) => p.endsWith(r.encryptedSuffix!));
  if (r.unencryptedRegex && path.some((p) => r.unencryptedRegex!.test(p))) enc = false;
  if (r.encryptedRegex) enc = path.some((p) => r.encryptedRegex!.test(p));
  return enc;
}

type Visit = (leaf: Scalar, path: string[], at: Array<string | number>) => Scalar;

/** walkBranch: leaves in document order; nil values are skipped (neither hashed nor encrypted). */
export function walk(n: Node, path: string[], at: Array<string | number>, visit: Visit): Node {
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
