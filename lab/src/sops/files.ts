// Whole sops files for the lab: decrypting one (LoadEncryptedFile's checks, the age data key, the
// values, the MAC, as `sops -d` and sops-install-secrets' decrypt.File do) and encrypting a plain
// tree for `--age` recipients into the layout sops 3.7 writes (the lab's world and faults, `sops -e`).
import { randomBytes } from 'node:crypto';
import {
  SopsError,
  mapNode,
  parseSopsFile,
  rulesOf,
  str,
  toPlain,
  type MapNode,
  type Node,
  type ParsedSops,
  type SopsFormat,
  type SopsMetadata,
  type SopsTree,
} from '../harness';
import { decryptBranches, decryptValue, encryptBranches, encryptValue } from './cipher';
import { decryptDataKey, encryptDataKey } from './data-key';
import { emitJson, emitYaml } from './emit';
import { SopsExit } from './exit-codes';
import { fromPlain } from './tree';

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
