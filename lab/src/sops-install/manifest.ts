// The manifest (modules/sops/manifest-for.nix writes it), decoded like encoding/json into
// main.go's structs, and its secrets as main.go's `secret` struct.
import { readFileSync } from 'node:fs';
import { errno, fail, msgOf } from './errors';

export type Format = 'yaml' | 'json' | 'binary' | 'dotenv' | 'ini';

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
export const jsonKind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v);

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

/** main.go's secret: the manifest's fields, then what validation and decryption fill in. */
export interface Secret {
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

export function toSecret(s: ManifestSecret): Secret {
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
