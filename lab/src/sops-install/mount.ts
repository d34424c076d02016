// linux.go's MountSecretFs: the mount point, ramfs on it unless it is ramfs already, root:keys.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, statfsSync } from 'node:fs';
import type { InstallContext } from './context';
import { errno, fail, io, wrap } from './errors';

const RAMFS_MAGIC = -2054924042;

/** `mount`: really mount ramfs, else only create and own the directory (an install under a test root). */
export function mountSecretFs(ctx: InstallContext, keysGid: number, mount: boolean): void {
  const { mountPoint, r } = ctx;
  try {
    if (mountPoint === '') fail(`cannot create directory '': mkdir : no such file or directory`);
    try {
      io('mkdir', mountPoint, () => mkdirSync(r(mountPoint), { recursive: true, mode: 0o751 }));
    } catch (e) {
      wrap(`cannot create directory '${mountPoint}'`, e);
    }
    if (mount) {
      let type = 0;
      try {
        type = statfsSync(r(mountPoint)).type;
      } catch (e) {
        fail(`cannot get statfs for directory '${mountPoint}': ${errno(e)}`);
      }
      if ((type | 0) !== RAMFS_MAGIC) {
        const m = spawnSync('mount', ['-t', 'ramfs', '-o', 'nodev,nosuid,mode=0751', 'none', r(mountPoint)], { encoding: 'utf8' });
        if (m.status !== 0) fail(`cannot mount: ${(m.stderr || m.error?.message || `exit status ${m.status}`).trim().replace(/^mount: /, '')}`);
      }
    }
    try {
      io('chown', mountPoint, () => chownSync(r(mountPoint), 0, keysGid));
    } catch (e) {
      wrap(`cannot change owner/group of '${mountPoint}' to 0/${keysGid}`, e);
    }
  } catch (e) {
    wrap('failed to mount filesystem for secrets', e);
  }
}
