// main.go's validateManifest: modes, owners, one format per sops file and, unless
// -check-mode=manifest, every secret's key present in its (still encrypted) sops file.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { InstallContext } from './context';
import { errno, fail, goQuote, msgOf, wrap } from './errors';
import { jsonKind, type Secret } from './manifest';
import { lookupGroup, lookupUser } from './passwd';
import { recurseSecretKey } from './secret-key';

export function validateManifest(ctx: InstallContext): void {
  const files = new Map<string, { first: Secret; keys?: Record<string, unknown> }>();
  try {
    if (ctx.gnupgHome !== '') {
      const both = (o: string) => `gnupgHome and ${o} were specified in the manifest. Both options are mutually exclusive.`;
      if (ctx.sshKeyPaths.length > 0) fail(both('sshKeyPaths'));
      if (ctx.ageKeyFile !== '') fail(both('ageKeyFile'));
    }
    for (const s of ctx.secrets) {
      s.perm = parseMode(s.mode);
      if (ctx.checkMode === 'off') {
        s.owner = s.ownerName === null ? s.uid : lookupUser(s.ownerName);
        s.group = s.groupName === null ? s.gid : lookupGroup(s.groupName);
      }
      let file = files.get(s.sopsFile);
      if (!file) {
        file = { first: s, keys: ctx.checkMode === 'manifest' ? undefined : loadSopsKeys(ctx, s) };
        files.set(s.sopsFile, file);
      }
      if (file.first.format !== s.format) {
        fail(`secret ${s.name} defined the format of ${s.sopsFile} as ${s.format}, but it was specified as ${file.first.format} in ${file.first.name} before`);
      }
      if (ctx.checkMode !== 'manifest' && (s.format === 'yaml' || s.format === 'json') && s.key !== '') {
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
}

function parseMode(mode: string): number {
  if (!/^[0-7]+$/.test(mode)) fail(`invalid number in mode: ${mode}: strconv.ParseUint: parsing ${goQuote(mode)}: invalid syntax`);
  const n = parseInt(mode, 8);
  if (n > 0xffff) fail(`invalid number in mode: ${mode}: strconv.ParseUint: parsing ${goQuote(mode)}: value out of range`);
  return n;
}

/** The sops file's keys as stored (values still encrypted); a binary file is only parsed. */
function loadSopsKeys(ctx: InstallContext, s: Secret): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(ctx.r(s.sopsFile), 'utf8');
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
    if (keys !== null && (typeof keys !== 'object' || Array.isArray(keys))) throw new Error(`cannot unmarshal ${jsonKind(keys)} into map[string]interface {}`);
  } catch (e) {
    return fail(`cannot parse ${what} of '${s.sopsFile}': ${msgOf(e)}`);
  }
  return s.format === 'binary' ? undefined : ((keys ?? {}) as Record<string, unknown>);
}
