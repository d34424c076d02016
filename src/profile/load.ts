import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { keyTypeOf } from '../drivers/known-hosts';
import { UsageError } from '../errors';
import { PROFILES_DIR, PROJECT_ROOT } from '../paths';
import { Profile, type Recipient, type SecretRef } from './schema';

export interface LoadedProfile {
  profile: Profile;
  /** Where it came from: a built-in name or a file path. */
  source: string;
  path: string;
}

export function builtinProfiles(): string[] {
  return readdirSync(PROFILES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function resolveProfilePath(nameOrPath: string): string {
  if (nameOrPath.includes('/') || /\.ya?ml$/.test(nameOrPath)) {
    const p = resolve(nameOrPath);
    if (!existsSync(p)) throw new UsageError(`--profile: no such file: ${nameOrPath}`);
    return p;
  }
  const p = join(PROFILES_DIR, `${nameOrPath}.yaml`);
  if (!existsSync(p)) {
    throw new UsageError(`--profile: no built-in profile "${nameOrPath}" (built-in: ${builtinProfiles().join(', ')}; or give a path to a YAML file)`);
  }
  return p;
}

/** A profile is a few kilobytes; anything larger is refused before it is read, so parsing stays well under a second. */
export const MAX_PROFILE_BYTES = 128 * 1024;
/** Values in the whole document, aliases expanded: a real profile has a few hundred. */
export const MAX_PROFILE_VALUES = 20_000;
/** Nesting of maps and lists: a real profile has six levels. */
export const MAX_PROFILE_DEPTH = 32;
/** Any one string, and any one key. */
export const MAX_STRING = 4096;
export const MAX_KEY = 256;
/** The YAML tags a profile may spell out (!!str "0600" and the like); !!binary, !!set and custom tags are refused. */
const ALLOWED_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));
/** C0 and C1 controls (tab and newline aside), DEL, and the bidi overrides that make text read other than it is. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** The same in the file's text, where a CR may end a line before its LF. */
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|\r(?!\n)/;

interface Problem {
  path: readonly PropertyKey[] | string;
  message: string;
}

function invalid(where: string, problems: Problem[]): UsageError {
  const lines = problems.map((p) => `${typeof p.path === 'string' ? p.path : fieldName(p.path)}: ${p.message}`);
  return invalidLines(where, lines);
}

const MAX_SHOWN = 20;

function invalidLines(where: string, lines: string[]): UsageError {
  const shown = lines.length > MAX_SHOWN ? [...lines.slice(0, MAX_SHOWN), `… and ${lines.length - MAX_SHOWN} more`] : lines;
  return new UsageError(`profile ${where} is invalid:\n${shown.map((l) => `  - ${l}`).join('\n')}`);
}

/** Reads, expands and validates a profile. Throws UsageError naming the field; contacts nothing. */
export function loadProfile(nameOrPath: string, vars: Record<string, string> = {}): LoadedProfile {
  const path = resolveProfilePath(nameOrPath);
  const text = readProfileText(path);
  const data = parseProfileYaml(text, path);
  const problems: Problem[] = [];
  const raw = expand(data, { HOME: homedir(), HARNESS: PROJECT_ROOT, ...vars }, [], problems);
  if (problems.length) throw invalid(path, problems);
  const control = textControlProblem(text);
  if (control) throw invalid(path, [control]);
  const profile = validateProfile(raw, path);
  const refs = knownHostsProblems(profile);
  if (refs.length) throw invalid(path, refs);
  return { profile, source: nameOrPath, path };
}

/** The file's text: a regular file of at most MAX_PROFILE_BYTES of UTF-8 text, never opened when it is not. */
function readProfileText(path: string): string {
  const fileProblem = (message: string) => invalid(path, [{ path: '(file)', message }]);
  let buf: Buffer;
  try {
    let st = statSync(path);
    if (!st.isFile()) throw fileProblem(`is ${kindOf(st)}, not a profile file`);
    if (st.size > MAX_PROFILE_BYTES) throw fileProblem(`${showBytes(st.size)}: a profile is at most ${showBytes(MAX_PROFILE_BYTES)}, so it was not read`);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      st = fstatSync(fd);
      if (!st.isFile()) throw fileProblem(`is ${kindOf(st)}, not a profile file`);
      // Read one byte past the limit: a file that grew since the stat is refused as well.
      buf = Buffer.alloc(MAX_PROFILE_BYTES + 1);
      let n = 0;
      for (let r: number; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
      if (n > MAX_PROFILE_BYTES) throw fileProblem(`more than ${showBytes(MAX_PROFILE_BYTES)}: a profile is at most that, so it was not read`);
      buf = buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw fileProblem(`cannot be read: ${(e as NodeJS.ErrnoException).code ?? firstLine(e)}`);
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) throw fileProblem(`is not a text file: a NUL byte at offset ${nul}`);
  const bad = firstInvalidUtf8(buf);
  if (bad !== undefined) throw fileProblem(`is not UTF-8 text: an invalid byte 0x${buf[bad]!.toString(16).padStart(2, '0')} at offset ${bad}`);
  return buf.toString('utf8').replace(/^\uFEFF/, '');
}

/** A control character anywhere in the text, a comment included (one in a value is named by its field first). */
function textControlProblem(text: string): Problem | undefined {
  const control = TEXT_CONTROL.exec(text);
  if (!control) return undefined;
  const before = text.slice(0, control.index);
  const line = before.split('\n').length;
  const column = control.index - before.lastIndexOf('\n');
  return { path: `(file) line ${line}, column ${column}`, message: `holds the control character ${codePoint(control[0])}; a profile is text` };
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function showBytes(n: number): string {
  if (n >= 1024 * 1024) return `${n} bytes (${(n / 1024 / 1024).toFixed(1)} MiB)`;
  if (n >= 1024) return `${n} bytes (${Math.round(n / 1024)} KiB)`;
  return `${n} bytes`;
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The offset of the first byte that is not valid UTF-8, or undefined. */
function firstInvalidUtf8(buf: Buffer): number | undefined {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return undefined;
  } catch {
    // The lenient decoder puts one U+FFFD per invalid sequence: the first one not spelt EF BF BD in the file is where it is.
    let offset = 0;
    for (const ch of new TextDecoder('utf-8').decode(buf)) {
      if (ch === '\uFFFD' && !(buf[offset] === 0xef && buf[offset + 1] === 0xbf && buf[offset + 2] === 0xbd)) return offset;
      offset += Buffer.byteLength(ch);
    }
    return 0;
  }
}

/** One YAML document of maps, lists and scalars, checked before it is turned into values: duplicates, tags, aliases and depth. */
function parseProfileYaml(text: string, path: string): unknown {
  // Flow collections ([ and {) nest on one line: a file of [[[[… would take the parser seconds and its stack.
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_PROFILE_DEPTH) {
        const line = text.slice(0, i).split('\n').length;
        throw invalid(path, [{ path: `(file) line ${line}`, message: `[ and { nest more than ${MAX_PROFILE_DEPTH} levels deep` }]);
      }
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { uniqueKeys: false, lineCounter, prettyErrors: false });
  } catch (e) {
    throw invalid(path, [{ path: '(file)', message: `not valid YAML: ${firstLine(e)}` }]);
  }
  const at = (pos: readonly number[] | undefined) => {
    if (!pos) return '(file)';
    const { line, col } = lineCounter.linePos(pos[0]!);
    return `(file) line ${line}, column ${col}`;
  };
  if (doc.errors.length) {
    throw invalid(
      path,
      doc.errors.map((e) => ({ path: at(e.pos), message: `not valid YAML: ${firstLine(e).replace(/ at line \d+, column \d+:?$/, '')}` })),
    );
  }
  const problems = documentProblems(doc, at);
  if (problems.length) throw invalid(path, problems);
  for (const w of doc.warnings) problems.push({ path: at(w.pos), message: `YAML: ${firstLine(w).replace(/ at line \d+, column \d+:?$/, '')}` });
  if (problems.length) throw invalid(path, problems);
  try {
    return doc.toJS();
  } catch (e) {
    // documentProblems bounds aliases; the YAML library's own limit is a second guard.
    throw invalid(path, [{ path: '(file)', message: `YAML aliases refused by the YAML library's own limit: ${firstLine(e)}` }]);
  }
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? '').slice(0, 300);
}

/**
 * Walks the document as written: a key given twice in one map, a tag a profile never needs, an
 * alias that refers to itself, nesting deeper than MAX_PROFILE_DEPTH, and more than
 * MAX_PROFILE_VALUES values once aliases are expanded (a "billion laughs" alias bomb).
 */
function documentProblems(doc: Document.Parsed, at: (pos: readonly number[] | undefined) => string): Problem[] {
  const problems: Problem[] = [];
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  const anchors = new Map<string, unknown>();
  let total = 0;
  class Stop extends Error {}
  const count = (n: number, path: PropertyKey[], why: () => string) => {
    total += n;
    if (total > MAX_PROFILE_VALUES) {
      problems.push({ path, message: why() });
      throw new Stop();
    }
  };
  const walk = (node: unknown, path: PropertyKey[], depth: number): number => {
    if (depth > MAX_PROFILE_DEPTH) {
      problems.push({ path, message: `nested more than ${MAX_PROFILE_DEPTH} levels deep` });
      throw new Stop();
    }
    if (isAlias(node)) {
      // The latest anchor of that name before the alias, as YAML has it (the library's resolve() searches the whole document each time).
      const target = anchors.get(node.source);
      if (!target || open.has(target)) {
        problems.push({
          path,
          message: target ? `the alias *${node.source} refers to the node it is in` : `the alias *${node.source} names no anchor before it`,
        });
        throw new Stop();
      }
      const size = sizes.get(target) ?? 1;
      count(
        size,
        path,
        () => `the alias *${node.source} (${size} values) expands the profile past ${MAX_PROFILE_VALUES} values: an alias bomb ("billion laughs") is refused`,
      );
      return size;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    if (anchor) anchors.set(anchor, node);
    const tag = (node as { tag?: string } | null)?.tag;
    if (tag !== undefined && !ALLOWED_TAGS.has(tag))
      problems.push({ path, message: `the YAML tag ${tag.replace(/^tag:yaml\.org,2002:/, '!!')} is not allowed in a profile` });
    let size = 1;
    count(1, path, () => `more than ${MAX_PROFILE_VALUES} values: not a profile`);
    open.add(node);
    if (isMap(node)) {
      const seen = new Map<string, readonly number[] | undefined>();
      for (const pair of node.items) {
        const key = pair.key;
        let name: string;
        if (isScalar(key) && key.value !== null && typeof key.value !== 'object') name = String(key.value);
        else {
          problems.push({
            path: `${fieldName(path)} (${at((key as { range?: number[] } | null)?.range).replace('(file) ', '')})`,
            message: `a key must be a plain name, not ${isAlias(key) ? 'an alias' : key === null || (isScalar(key) && key.value === null) ? 'empty' : 'a map or a list'}`,
          });
          continue;
        }
        if (key.anchor) {
          anchors.set(key.anchor, key);
          sizes.set(key, 1);
        }
        const first = seen.get(name);
        if (seen.has(name))
          problems.push({
            path: [...path, name],
            message: `given twice (${at(first).replace('(file) ', '')} and ${at(key.range ?? undefined).replace('(file) ', '')})`,
          });
        seen.set(name, key.range ?? undefined);
        const ktag = key.tag;
        if (ktag !== undefined && !ALLOWED_TAGS.has(ktag))
          problems.push({ path: [...path, name], message: `the YAML tag ${ktag} is not allowed in a profile` });
        size += 1 + walk(pair.value, [...path, name], depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => (size += walk(item, [...path, i], depth + 1)));
    }
    open.delete(node);
    sizes.set(node, size);
    return size;
  };
  try {
    walk(doc.contents, [], 0);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  return problems;
}

export function validateProfile(raw: unknown, where: string): Profile {
  let parsed: ReturnType<typeof Profile.safeParse>;
  try {
    parsed = Profile.safeParse(raw);
  } catch (e) {
    // A check that itself failed on odd input: still a refusal, never a stack trace.
    throw invalidLines(where, [`(top level): could not be checked: ${firstLine(e)}`]);
  }
  if (parsed.success) return parsed.data;
  throw invalidLines(where, parsed.error.issues.flatMap(describeIssue));
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${fieldName([...issue.path, k])}: unknown field`);
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return [`${fieldName(issue.path)}: missing (expected ${issue.expected})`];
  }
  if (issue.code === 'invalid_key') {
    return issue.issues.map((i) => `${fieldName(issue.path)}: as a name: ${i.message.replace(/^Invalid input: /, '')}`);
  }
  if (issue.code === 'invalid_union' && issue.errors.length) {
    // The one alternative whose keys fit ({ fingerprint: … } for a bad fingerprint) says what is wrong inside it.
    const fits = issue.errors.filter((branch) => !branch.some(isShapeMismatch));
    if (fits.length === 1) return fits[0]!.flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
  }
  return [`${fieldName(issue.path)}: ${issue.message.replace(/^Invalid input: /, '')}`];
}

/** An issue that says an alternative of a union is the wrong shape: not an object, a key missing or unknown. */
function isShapeMismatch(i: z.core.$ZodIssue): boolean {
  if (i.path.length === 0) return true;
  return i.path.length === 1 && i.code === 'invalid_type' && i.message.includes('received undefined');
}

/** A field's path as messages show it: hosts.cc-ci.port; a key with odd characters quoted and escaped, a long one cut. */
function fieldName(path: readonly PropertyKey[]): string {
  if (!path.length) return '(top level)';
  return path
    .map((k) => {
      const s = String(k);
      const plain = typeof k === 'number' || /^[A-Za-z0-9_<>@:-][A-Za-z0-9_.<>@:-]*$/.test(s);
      const cut = s.length > 64 ? s.slice(0, 40) : s;
      const shown = plain
        ? cut
        : JSON.stringify(cut).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      return s.length > 64 ? `${shown}…(${s.length} characters)` : shown;
    })
    .join('.');
}

/** ${NAME} and ~/ expanded; every string and key checked for length, control characters and references left over. */
function expand(value: unknown, vars: Record<string, string>, path: PropertyKey[], problems: Problem[]): unknown {
  if (typeof value === 'string') {
    const s = value.startsWith('~/') ? `${vars.HOME}${value.slice(1)}` : value;
    const out = s.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (all, name: string) => {
      const v = vars[name];
      if (v === undefined) {
        problems.push({
          path,
          message: `\${${name}} is not defined (the profile may use ${Object.keys(vars)
            .map((k) => `\${${k}}`)
            .join(', ')})`,
        });
        return all;
      }
      return v;
    });
    if (out.length > MAX_STRING) problems.push({ path, message: `a string of ${out.length} characters; at most ${MAX_STRING}` });
    const control = CONTROL.exec(out);
    if (control) problems.push({ path, message: `holds the control character ${codePoint(control[0])}` });
    else if (/\$\{(?![A-Z_][A-Z0-9_]*\})/.test(s))
      problems.push({ path, message: 'holds ${ that is no reference the profile can expand: ${NAME}, NAME of A-Z, 0-9 and _' });
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => expand(v, vars, [...path, i], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        if (k.length > MAX_KEY) problems.push({ path: [...path, k], message: `a key of ${k.length} characters; at most ${MAX_KEY}` });
        else if (CONTROL.test(k) || k.includes('\n') || k.includes('\t')) problems.push({ path: [...path, k], message: 'a key holding a control character' });
        return [k, expand(v, vars, [...path, k], problems)];
      }),
    );
  }
  return value;
}

/**
 * A known_hosts file the profile names and that exists must be one: at least one line of
 * `HOST KEYTYPE BASE64` whose key names that type (an empty file is a known_hosts file with no
 * entries). One that does not exist yet is left to the run: the lab writes its own.
 */
function knownHostsProblems(profile: Profile): Problem[] {
  const problems: Problem[] = [];
  for (const [name, spec] of Object.entries(profile.hosts)) {
    if (spec.transport !== 'ssh' || !('knownHosts' in spec.hostKey)) continue;
    const file = spec.hostKey.knownHosts;
    const path = ['hosts', name, 'hostKey', 'knownHosts'];
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      continue;
    }
    if (!st.isFile()) {
      problems.push({ path, message: `${file} is ${kindOf(st)}, not a known_hosts file` });
      continue;
    }
    let text: string;
    try {
      const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(Math.min(st.size, 1024 * 1024));
        const n = readSync(fd, buf, 0, buf.length, 0);
        text = buf.subarray(0, n).toString('latin1');
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      problems.push({ path, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      continue;
    }
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (st.size > text.length) lines.pop(); // cut at the read limit
    if (lines.length && !lines.some(isKnownHostsLine)) {
      problems.push({ path, message: `${file} is not a known_hosts file: none of its ${lines.length} line(s) is HOST KEYTYPE BASE64-KEY` });
    }
  }
  return problems;
}

function isKnownHostsLine(line: string): boolean {
  const fields = line.split(/\s+/);
  if (fields[0] === '@revoked' || fields[0] === '@cert-authority') fields.shift();
  const [patterns, keyType, b64] = fields;
  if (!patterns || !keyType || !b64 || !/^[a-z0-9][a-z0-9@.-]*$/.test(keyType) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  return keyTypeOf(Buffer.from(b64, 'base64')) === keyType;
}

/** Reads a credential the profile refers to. The value goes to the redactor, never to output. */
export function readSecretRef(ref: SecretRef, field: string, env: NodeJS.ProcessEnv = process.env): string {
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') throw new UsageError(`${field}: environment variable ${ref.env} is not set`);
    return v;
  }
  return readCredentialFile(ref.file, field);
}

export function readCredentialFile(file: string, field: string): string {
  if (!isAbsolute(file)) throw new UsageError(`${field}: ${file} is not an absolute path`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${field}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export interface ResolvedRecipient {
  name: string;
  age: string;
}

/** The expected age recipients, read from the profile, its files or the environment. */
export function resolveRecipients(recipients: Recipient[], env: NodeJS.ProcessEnv = process.env): ResolvedRecipient[] {
  return recipients.map((r, i) => resolveRecipient(r, i, env));
}

function resolveRecipient(r: Recipient, i: number, env: NodeJS.ProcessEnv): ResolvedRecipient {
  const field = `secrets.recipients.${i}`;
  let text: string;
  if ('age' in r) text = r.age;
  else if ('env' in r) {
    const v = env[r.env];
    if (!v) throw new UsageError(`${field}.env: environment variable ${r.env} is not set (the public age key of ${r.name})`);
    text = v;
  } else text = readCredentialFile(r.file, `${field}.file`);
  if (text.includes('AGE-SECRET-KEY-')) throw new UsageError(`${field}: holds a private age key; give the public key (age1…) instead`);
  const age = /\bage1[02-9ac-hj-np-z]{58}\b/.exec(text)?.[0];
  if (!age) throw new UsageError(`${field}: no age public key (age1…) found for ${r.name}`);
  return { name: r.name, age };
}

/**
 * Every file and variable the profile refers to, read before any host is contacted; the
 * throwaway's credentials only when a selected scenario makes a throwaway.
 */
export function referenceProblems(profile: Profile, opts: { throwaway: boolean; e2e?: boolean }): string[] {
  const problems: string[] = [];
  const attempt = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(e.message);
    }
  };
  profile.secrets.recipients.forEach((r, i) => attempt(() => resolveRecipient(r, i, process.env)));
  const ca = profile.tls.caBundle;
  if (ca !== 'system') attempt(() => readCredentialFile(ca.file, 'tls.caBundle.file'));
  const t = profile.throwaway;
  if (opts.throwaway && t) {
    attempt(() => readCredentialFile(t.recoveryKey.file, 'throwaway.recoveryKey.file'));
    t.cloneCredentials.forEach((c, i) => attempt(() => readCredentialFile(c.source.file, `throwaway.cloneCredentials.${i}.source.file`)));
  }
  const e = profile.e2e;
  if (opts.e2e && e) {
    attempt(() => readSecretRef(e.gitea.token, 'e2e.gitea.token'));
    if (e.gitea.nonMemberToken) attempt(() => readSecretRef(e.gitea.nonMemberToken!, 'e2e.gitea.nonMemberToken'));
    attempt(() => readSecretRef(e.drone.token, 'e2e.drone.token'));
  }
  return problems;
}
