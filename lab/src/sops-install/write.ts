// main.go's writeSecrets: each secret as <generation>/<name> with its mode and owner; a `/` in a
// name makes root:keys sub-directories.
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Generation, InstallContext } from './context';
import { io, wrap } from './errors';

const { dirname, join } = posix;

export function writeSecrets(ctx: InstallContext, gen: Generation, keysGid: number): void {
  const { r } = ctx;
  try {
    for (const s of ctx.secrets) {
      const fp = join(gen.dir, s.name);
      let soFar = gen.dir;
      for (const d of dirname(s.name).split('/')) {
        soFar = join(soFar, d);
        const here = soFar;
        try {
          io('mkdir', here, () => mkdirSync(r(here), { recursive: true, mode: 0o751 }));
        } catch (e) {
          wrap(`cannot create directory '${here}' for ${fp}`, e);
        }
        try {
          io('chown', here, () => chownSync(r(here), 0, keysGid));
        } catch (e) {
          wrap(`cannot own directory '${here}' for ${fp}`, e);
        }
      }
      try {
        io('open', fp, () => writeFileSync(r(fp), s.value, { mode: s.perm & 0o777 }));
      } catch (e) {
        wrap(`cannot write ${fp}`, e);
      }
      try {
        io('chown', fp, () => chownSync(r(fp), s.owner, s.group));
      } catch (e) {
        wrap(`cannot change owner/group of '${fp}' to ${s.owner}/${s.group}`, e);
      }
    }
  } catch (e) {
    wrap('cannot write secrets', e);
  }
}
