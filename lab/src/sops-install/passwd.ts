// User and group names, looked up in /etc/passwd and /etc/group (main.go uses os/user).
import { readFileSync } from 'node:fs';
import { fail } from './errors';

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

export function lookupUser(name: string): number {
  return lookupId('/etc/passwd', name) ?? fail(`failed to lookup user '${name}': user: unknown user ${name}`);
}

export function lookupGroup(name: string): number {
  return lookupId('/etc/group', name) ?? fail(`failed to lookup group '${name}': group: unknown group ${name}`);
}

/** The group of the secrets directories: `keys`, else `nogroup`. */
export function lookupKeysGroup(): number {
  const keys = lookupId('/etc/group', 'keys');
  if (keys !== undefined) return keys;
  const nogroup = lookupId('/etc/group', 'nogroup');
  if (nogroup !== undefined) return nogroup;
  return fail("can't find group 'keys' nor 'nogroup' (failed to lookup 'keys' group: group: unknown group nogroup)");
}
