// Lab stand-in for the Drone server (see lab/standins/drone-server for the subset it mirrors).
import { readFileSync } from 'node:fs';
import { startDrone, type RunningDrone } from './drone';

const USAGE = `usage: drone-server --port N [--host H] --state FILE --server-url URL --tokens-file FILE
                    --workdir DIR [--repo OWNER/NAME]... -- PIPELINE ARGV...
  --tokens-file   lines "login token" (blank lines and # comments ignored)
  --repo          an activated repository (repeatable; default: every repository)
  --scm-url       the forge (Gitea) root URL: a build's link is its commit there
  --scm-git       where the repos are cloned from ({url}/{name}.git), to find a branch's tip
`;

class UsageError extends Error {}

function logLine(level: string, msg: string): string {
  return JSON.stringify({ level, msg, time: new Date().toISOString() });
}

function readTokens(file: string): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const [i, raw] of readFileSync(file, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [login, token, ...rest] = line.split(/\s+/);
    if (!login || !token || rest.length) throw new UsageError(`${file}:${i + 1}: expected "login token"`);
    tokens[token] = login;
  }
  return tokens;
}

function parse(argv: string[]) {
  const sep = argv.indexOf('--');
  const flags = sep < 0 ? argv : argv.slice(0, sep);
  const pipeline = sep < 0 ? [] : argv.slice(sep + 1);
  const one: Record<string, string> = {};
  const repos: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const a = flags[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!['--port', '--host', '--state', '--server-url', '--tokens-file', '--workdir', '--repo', '--scm-url', '--scm-git'].includes(name))
      throw new UsageError(`unknown argument: ${a}`);
    const value = eq > 0 ? a.slice(eq + 1) : flags[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    if (name === '--repo') repos.push(value);
    else one[name] = value;
  }
  for (const req of ['--port', '--state', '--server-url', '--tokens-file', '--workdir']) if (!one[req]) throw new UsageError(`missing ${req}`);
  if (!/^\d+$/.test(one['--port']!)) throw new UsageError(`--port: not a number: ${one['--port']}`);
  if (pipeline.length === 0) throw new UsageError('missing the pipeline argv after --');
  return {
    port: Number(one['--port']),
    host: one['--host'],
    statePath: one['--state']!,
    serverUrl: one['--server-url']!,
    tokens: readTokens(one['--tokens-file']!),
    workDir: one['--workdir']!,
    ...(repos.length ? { repos } : {}),
    ...(one['--scm-url'] ? { scm: { api: one['--scm-url'], git: one['--scm-git'] } } : {}),
    pipeline,
  };
}

async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '-h' || a === '--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let running: RunningDrone;
  try {
    running = await startDrone({ ...parse(argv), log: (l) => process.stdout.write(`${logLine('info', l)}\n`) });
  } catch (e) {
    process.stderr.write(e instanceof UsageError ? `drone-server: ${e.message}\n${USAGE}` : `${logLine('fatal', (e as Error).message)}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
  return new Promise<number>((resolve) => {
    const stop = () => void running.close().then(() => resolve(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`drone-server (lab stand-in): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
