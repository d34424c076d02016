import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from './atomic';
import { join, relative } from 'node:path';

// The SHA-256 of every file of a run folder, written when the run ends: a file changed after the
// run is caught by `attach`, which never carries such a run into DECISIONS.

export const MANIFEST = 'manifest.json';

function filesOf(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return filesOf(p, root);
    return d.isFile() ? [relative(root, p)] : [];
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

export function writeManifest(runDir: string): void {
  const files = Object.fromEntries(
    filesOf(runDir)
      .filter((f) => f !== MANIFEST)
      .sort()
      .map((f) => [f, sha256(join(runDir, f))]),
  );
  writeFileAtomic(join(runDir, MANIFEST), JSON.stringify({ files }, null, 2) + '\n');
}

/** Files that differ from the manifest: changed, missing, or added since the run ended. */
export function manifestChanges(runDir: string): { changed: string[]; missing: string[]; added: string[] } | { error: string } {
  let recorded: Record<string, string>;
  try {
    recorded = (JSON.parse(readFileSync(join(runDir, MANIFEST), 'utf8')) as { files: Record<string, string> }).files;
  } catch (e) {
    return { error: `no readable ${MANIFEST} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  const now = new Set(filesOf(runDir).filter((f) => f !== MANIFEST));
  const changed = [...now].filter((f) => recorded[f] !== undefined && statSync(join(runDir, f)).isFile() && sha256(join(runDir, f)) !== recorded[f]);
  const missing = Object.keys(recorded).filter((f) => !now.has(f));
  const added = [...now].filter((f) => recorded[f] === undefined);
  return { changed, missing, added };
}
