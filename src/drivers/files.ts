import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths';
import type { CommandResult, Host } from './host';

// Files on a host: what a check asks of a path, and how a POSIX host answers it. The shell stays
// here; every value a caller passes is an argument ($1, $2, …), never part of the script.

export interface LinkInfo {
  /** `link` (a symlink), `plain` (something else that exists) or `absent`. */
  kind: 'link' | 'plain' | 'absent';
  /** The symlink's own target, as written (for a link). */
  target?: string;
  /** What a plain path is, in stat's words (`regular file`, `directory`, …). */
  type?: string;
  /** The path with every link resolved (`readlink -f`). */
  real: string;
  /** Whether it ends at a regular file. */
  resolves: boolean;
  result: CommandResult;
}

export interface FileStat {
  mode: string;
  owner: string;
  group: string;
  type: string;
  name: string;
}

const LINK_INFO =
  'p=$1; if [ -L "$p" ]; then echo "link $(readlink "$p")"; elif [ -e "$p" ]; then echo "plain $(stat -c %F "$p")"; else echo "absent"; fi; echo "real $(readlink -f "$p")"; if [ -f "$p" ]; then echo resolves; else echo dangling; fi';

const TREE = 'for d in "$@"; do [ -d "$d" ] && find "$d" -mindepth 1 \\( -type f -o -type l \\); done; true';

const KEY_SCAN = readFileSync(join(PROJECT_ROOT, 'src', 'remote', 'key-scan.sh'), 'utf8');

export interface KeyScan {
  files: { kind: string; path: string }[];
  error?: string;
  done: boolean;
}

/** What src/remote/key-scan.sh printed: `key KIND PATH` per key found, `error …`, and `done` at its end. */
export function parseKeyScan(out: string): KeyScan {
  const r: KeyScan = { files: [], done: false };
  for (const line of out.split('\n')) {
    const m = /^key (\S+) (.+)$/.exec(line);
    if (m) r.files.push({ kind: m[1]!, path: m[2]! });
    else if (line.startsWith('error ')) r.error = line.slice(6);
    else if (line === 'done') r.done = true;
  }
  return r;
}

export class Files {
  constructor(readonly host: Host) {}

  /** Whether `path` is a regular file (following links). */
  async isFile(path: string): Promise<{ value: boolean; result: CommandResult }> {
    const result = await this.host.run(['test', '-f', path]);
    return { value: result.ok, result };
  }

  /** A file's text, or null when it is not a regular file. */
  async readIfFile(path: string): Promise<{ text: string | null; result: CommandResult }> {
    const result = await this.host.run(['sh', '-c', 'test -f "$1" && cat "$1"', 'read', path]);
    return { text: result.ok ? result.stdout : null, result };
  }

  /** A file's text; a missing file is a non-zero result, for the caller to word. */
  read(path: string): Promise<CommandResult> {
    return this.host.run(['cat', path]);
  }

  /** `path` with every link resolved; `mustExist` makes a dangling path fail (`readlink -e`). */
  resolve(path: string, opts: { mustExist?: boolean } = {}): Promise<CommandResult> {
    return this.host.run(['readlink', opts.mustExist ? '-e' : '-f', path]);
  }

  /** What `path` is: a link (and where to), a plain file, or nothing; and where it ends. */
  async linkInfo(path: string): Promise<LinkInfo> {
    const result = await this.host.succeed(['sh', '-c', LINK_INFO, 'link-info', path]);
    const kv = Object.fromEntries(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]),
    );
    const kind = 'link' in kv ? 'link' : 'plain' in kv ? 'plain' : 'absent';
    return { kind, target: kv.link, type: kv.plain, real: kv.real ?? '', resolves: 'resolves' in kv, result };
  }

  /** Every file and symlink under the directories that exist, one path per line. */
  async tree(dirs: readonly string[]): Promise<{ paths: string[]; result: CommandResult }> {
    const result = await this.host.succeed(['sh', '-c', TREE, 'tree', ...dirs]);
    return { paths: result.stdout.split('\n').filter(Boolean), result };
  }

  /** The entries of a directory (following links), each with mode, owner, group and type. */
  async statEntries(dir: string): Promise<{ entries: FileStat[]; result: CommandResult }> {
    const result = await this.host.run(['find', '-L', `${dir}/`, '-mindepth', '1', '-maxdepth', '1', '-printf', '%m %u %g %y %f\\n']);
    const types: Record<string, string> = {
      f: 'regular file',
      d: 'directory',
      l: 'symbolic link',
      p: 'fifo',
      s: 'socket',
      c: 'character special file',
      b: 'block special file',
    };
    const entries = result.ok
      ? result.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const [mode, owner, group, type, ...name] = l.split(' ');
            return { mode: mode!, owner: owner!, group: group!, type: types[type!] ?? type!, name: name.join(' ') };
          })
      : [];
    return { entries, result };
  }

  /** The names in a directory, or none when it cannot be listed. */
  async list(dir: string): Promise<{ names: string[]; result: CommandResult }> {
    const result = await this.host.run(['ls', '-1A', dir]);
    return { names: result.ok ? result.stdout.split('\n').filter(Boolean) : [], result };
  }

  /** The type of the filesystem holding `dir` (`tmpfs`, `ramfs`, `ext2/ext3`, …), following links. */
  async filesystemType(dir: string): Promise<{ type: string | null; result: CommandResult }> {
    const result = await this.host.run(['stat', '-f', '-L', '-c', '%T', `${dir}/`]);
    return { type: result.ok ? result.stdout.trim() : null, result };
  }

  /** Private keys (PEM, OpenSSH, age, binary DER) in files under `paths`, skipping `excluded` (src/remote/key-scan.sh). */
  async privateKeyScan(paths: readonly string[], excluded: readonly string[], timeoutMs: number): Promise<{ scan: KeyScan; result: CommandResult }> {
    const result = await this.host.run(['bash', '-c', KEY_SCAN, 'key-scan', ...excluded, '--', ...paths], { timeoutMs });
    return { scan: parseKeyScan(result.stdout), result };
  }

  /** Mode, owner and type of one path (`stat -c '%a %U %F'`). */
  stat(path: string): Promise<CommandResult> {
    return this.host.run(['stat', '-c', '%a %U %F', path], { text: true });
  }
}
