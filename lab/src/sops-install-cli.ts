// Lab stand-in for sops-nix's `sops-install-secrets [-check-mode=off|manifest|sopsfile] MANIFEST`
// (see lab/standins/sops-install-secrets). Flags parse like Go's flag package; errors print as
// `<argv0>: <error>` with exit status 1, as main.go does. Not kept: -ignore-passwd, -help.
import { basename } from 'node:path';
import { InstallError, installSecrets, readManifest, type CheckMode } from './sops-install';

export interface CliIo {
  argv0: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const USAGE_DEFAULTS =
  '  -check-mode string\n' + '    \tValidate configuration without installing it (possible values: "manifest","sopsfile","off") (default "off")\n';

class FlagError extends Error {}

function parseFlags(args: string[], io: CliIo): { checkMode: string; rest: string[] } {
  let checkMode = 'off';
  const failf = (msg: string): never => {
    io.stderr(msg + '\n');
    io.stderr(`Usage: ${io.argv0} [OPTION] manifest.json\n${USAGE_DEFAULTS}`);
    throw new FlagError(msg);
  };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a.length < 2 || a[0] !== '-') break;
    if (a === '--') {
      i++;
      break;
    }
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    if (body === '' || body[0] === '-' || body[0] === '=') failf(`bad flag syntax: ${a}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    if (name !== 'check-mode') failf(`flag provided but not defined: -${name}`);
    if (value !== undefined) checkMode = value;
    else if (i + 1 < args.length) checkMode = args[++i]!;
    else failf(`flag needs an argument: -${name}`);
  }
  return { checkMode, rest: args.slice(i) };
}

/** Runs like main.go's main(); returns the exit status. */
export async function main(args: string[], io: CliIo): Promise<number> {
  try {
    const f = parseFlags(args, io);
    if (!['manifest', 'sopsfile', 'off'].includes(f.checkMode)) throw new InstallError('invalid value provided for -check-mode flag: ');
    if (f.rest.length !== 1) {
      io.stderr(`Usage of ${io.argv0}:\n`);
      return 0;
    }
    const manifest = readManifest(f.rest[0]!);
    await installSecrets(manifest, {
      checkMode: f.checkMode as CheckMode,
      write: (stream, line) => (stream === 'stdout' ? io.stdout : io.stderr)(line + '\n'),
    });
    return 0;
  } catch (e) {
    if (e instanceof InstallError || e instanceof FlagError) {
      io.stderr(`${io.argv0}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  // The wrapper runs node as `exec -a "$0"`, so argv[0] is the name it was called by.
  const argv0 = ['node', 'nodejs'].includes(basename(process.argv0)) ? 'sops-install-secrets' : process.argv0;
  main(process.argv.slice(2), {
    argv0,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${argv0}: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
