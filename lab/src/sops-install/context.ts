// What every step of an installation shares: the manifest's settings, paths under the install
// root, and the result the steps fill in.
import { posix } from 'node:path';
import type { Secret } from './manifest';

export type CheckMode = 'off' | 'manifest' | 'sopsfile';

export interface InstallResult {
  /** The new generation (undefined in check modes). */
  generation?: number;
  secretDir?: string;
  added: string[];
  modified: string[];
  removed: string[];
  restartUnits: string[];
  reloadUnits: string[];
  stdout: string[];
  stderr: string[];
}

export interface InstallContext {
  /** An absolute path of the manifest, under the install root. */
  r: (path: string) => string;
  /** A link target read back, without the install root. */
  unroot: (target: string) => string;
  checkMode: CheckMode;
  secrets: Secret[];
  mountPoint: string;
  symlinkPath: string;
  keepGenerations: number;
  ageKeyFile: string;
  gnupgHome: string;
  sshKeyPaths: string[];
  logSecretChanges: boolean;
  now: Date;
  result: InstallResult;
  say: (stream: 'stdout' | 'stderr', line: string) => void;
}

/** A new generation directory, `<mountPoint>/<number>`. */
export interface Generation {
  number: number;
  dir: string;
}

/** `r` and `unroot` for an install root (`/` leaves paths as they are). */
export function rooted(root: string): Pick<InstallContext, 'r' | 'unroot'> {
  const prefix = root.replace(/\/$/, '');
  return {
    r: (p) => (root === '/' ? p : posix.join(root, p)),
    unroot: (t) => (root !== '/' && t.startsWith(prefix + '/') ? t.slice(prefix.length) : t),
  };
}
