import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const PROFILES_DIR = join(PROJECT_ROOT, 'profiles');
export const REPORTS_DIR = join(PROJECT_ROOT, 'reports');
export const LAB_ROOT = join(PROJECT_ROOT, '.lab');
export const LAB_ASSETS = join(PROJECT_ROOT, 'lab');
