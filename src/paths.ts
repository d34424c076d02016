import { isAbsolute, join, relative, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const PROFILES_DIR = join(PROJECT_ROOT, 'profiles');
export const REPORTS_DIR = join(PROJECT_ROOT, 'reports');

/** A path as messages show it: relative to the project root when inside it, else absolute. */
export function shownPath(path: string): string {
  const rel = relative(PROJECT_ROOT, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(path);
}
