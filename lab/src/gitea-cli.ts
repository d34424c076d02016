// Lab stand-in for the `gitea` command (see lab/standins/gitea for the API subset it mirrors).
import { readFileSync } from 'node:fs';
import { seedGitea, startGitea, type GiteaSeed } from './gitea';

const USAGE = `gitea (lab stand-in) - Gitea's REST API v1 subset cc-ci uses
  gitea web --port N [--host H] --state FILE [--root-url URL]   serve until SIGTERM/SIGINT
  gitea seed --state FILE < seed.json                             write a fresh state file
`;

const ts = (): string => {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
const info = (msg: string): void => void process.stdout.write(`${ts()} [I] ${msg}\n`);

function flags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument '${a}'`);
    const name = m[1] === 'p' ? 'port' : m[1]!;
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag needs an argument: ${a}`);
    out.set(name, value);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || /^(-h|--help|help)$/.test(cmd)) {
    process.stdout.write(USAGE);
    return cmd ? 0 : 1;
  }
  const f = flags(rest);
  const statePath = f.get('state');
  if (!statePath) throw new Error('--state FILE is required');
  if (cmd === 'seed') {
    seedGitea(statePath, JSON.parse(readFileSync(0, 'utf8')) as GiteaSeed);
    return 0;
  }
  if (cmd !== 'web') throw new Error(`unknown command '${cmd}'`);
  const port = Number(f.get('port') ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port '${f.get('port')}'`);
  const running = await startGitea({ statePath, port, host: f.get('host') ?? '0.0.0.0', baseUrl: f.get('root-url'), log: info });
  info(`AppURL(ROOT_URL): ${f.get('root-url') ?? `${running.url}/`}`);
  info(`Listen: ${running.url}`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      info(`Received ${signal}, shutting down`);
      void running.close().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`gitea (lab stand-in): ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
