// main.go's handleModifications: compares the new generation with the one symlinkPath points at,
// appends the units to restart/reload to NixOS's activation lists and logs the changed secrets.
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Generation, InstallContext } from './context';
import { errno, fail, io, isENOENT, wrap } from './errors';

const { dirname, join } = posix;

export function handleModifications(ctx: InstallContext, gen: Generation): void {
  try {
    compareWithCurrent(ctx, gen);
  } catch (e) {
    wrap('cannot request units to restart', e);
  }
}

function compareWithCurrent(ctx: InstallContext, gen: Generation): void {
  const { symlinkPath, secrets, result, r } = ctx;
  try {
    statSync(r(symlinkPath));
  } catch (e) {
    if (isENOENT(e)) return;
  }
  const restart: string[] = [];
  const reload: string[] = [];
  for (const s of secrets) {
    const oldPath = join(symlinkPath, s.name);
    let oldData: Buffer;
    try {
      oldData = readFileSync(r(oldPath));
    } catch (e) {
      if (isENOENT(e)) {
        restart.push(...s.restartUnits);
        reload.push(...s.reloadUnits);
        result.added.push(s.name);
        continue;
      }
      return fail(`${(e as NodeJS.ErrnoException).code === 'EISDIR' ? 'read' : 'open'} ${oldPath}: ${errno(e)}`);
    }
    const newPath = join(gen.dir, s.name);
    const newData = io('open', newPath, () => readFileSync(r(newPath)));
    if (!oldData.equals(newData)) {
      restart.push(...s.restartUnits);
      reload.push(...s.reloadUnits);
      result.modified.push(s.name);
    }
  }
  result.restartUnits = restart;
  result.reloadUnits = reload;
  for (const [list, file] of [
    [restart, '/run/nixos/activation-restart-list'],
    [reload, '/run/nixos/activation-reload-list'],
  ] as const) {
    if (list.length === 0 || !existsSync(r(dirname(file)))) continue;
    io('open', file, () => appendFileSync(r(file), list.map((u) => u + '\n').join(''), { mode: 0o600 }));
  }
  if (!ctx.logSecretChanges) return;
  const walk = (rel: string) => {
    for (const entry of readdirSync(r(join(symlinkPath, rel))).sort()) {
      const p = rel ? `${rel}/${entry}` : entry;
      if (statSync(r(join(symlinkPath, p))).isDirectory()) walk(p);
      else if (!secrets.some((s) => s.name === p)) result.removed.push(p);
    }
  };
  walk('');
  const out = (verb: string, names: string[]) => {
    if (names.length === 0) return;
    ctx.say('stdout', `${verb} secret${names.length === 1 ? '' : 's'}: ${[...new Set(names)].sort().join(', ')}`);
  };
  out('adding', result.added);
  out('modifying', result.modified);
  out('removing', result.removed);
}
