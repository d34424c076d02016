import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
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

/** Reads, expands and validates a profile. Throws UsageError naming the field; contacts nothing. */
export function loadProfile(nameOrPath: string, vars: Record<string, string> = {}): LoadedProfile {
  const path = resolveProfilePath(nameOrPath);
  const doc = parseDocument(readFileSync(path, 'utf8'), { uniqueKeys: true });
  if (doc.errors.length) {
    throw new UsageError(`profile ${path}: not valid YAML: ${doc.errors[0]!.message}`);
  }
  const raw = expand(doc.toJS(), { HOME: homedir(), HARNESS: PROJECT_ROOT, ...vars }, []);
  return { profile: validateProfile(raw, path), source: nameOrPath, path };
}

export function validateProfile(raw: unknown, where: string): Profile {
  const parsed = Profile.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map(describeIssue);
  throw new UsageError(`profile ${where} is invalid:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${fieldName([...issue.path, k])}: unknown field`).join('\n  - ');
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return `${fieldName(issue.path)}: missing (expected ${issue.expected})`;
  }
  return `${fieldName(issue.path)}: ${issue.message.replace(/^Invalid input: /, '')}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

function expand(value: unknown, vars: Record<string, string>, path: string[]): unknown {
  if (typeof value === 'string') {
    const s = value.startsWith('~/') ? `${vars.HOME}${value.slice(1)}` : value;
    return s.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
      const v = vars[name];
      if (v === undefined) {
        throw new UsageError(`profile field ${fieldName(path)}: \${${name}} is not defined (known: ${Object.keys(vars).join(', ')})`);
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expand(v, vars, [...path, String(i)]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, vars, [...path, k])]));
  }
  return value;
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
