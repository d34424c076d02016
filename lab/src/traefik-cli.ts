// Lab stand-in for the `traefik` command (see lab/standins/traefik for the subset it mirrors).
import { FlagError, formatLogLine, parseTraefikFlags, startTraefik, type RunningTraefik, type TraefikOptions } from './traefik';

const USAGE = `traefik (lab stand-in) - the subset of Traefik's static flags it mirrors:
  --entrypoints.<name>.address=[HOST]:PORT
  --entrypoints.<name>.http.redirections.entrypoint.to=<entrypoint>|:PORT
  --entrypoints.<name>.http.redirections.entrypoint.scheme=https
  --providers.file.filename=FILE   --providers.file.watch=true|false
  --log.level=DEBUG|INFO|WARN|ERROR
`;

async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => /^--?h(elp)?$/.test(a))) {
    process.stdout.write(USAGE);
    return 0;
  }
  let opts: TraefikOptions;
  try {
    opts = parseTraefikFlags(argv);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`Error: ${e.message}\n`);
    return 1;
  }
  // Traefik prints this before its logger is configured, so at any level.
  if (argv.length > 0) process.stdout.write(`${formatLogLine('info', 'Configuration loaded from flags.')}\n`);
  let running: RunningTraefik;
  try {
    running = await startTraefik(opts);
  } catch (e) {
    process.stdout.write(`${formatLogLine('error', 'Command error', { error: `command traefik error: ${(e as Error).message}` })}\n`);
    return 1;
  }
  const info = (msg: string): void => {
    if (/^(trace|debug|info)$/i.test(opts.logLevel ?? '')) process.stdout.write(`${formatLogLine('info', msg)}\n`);
  };
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      info(`I have to go... ${signal === 'SIGTERM' ? 'terminated' : 'interrupt'}`);
      info('Stopping server gracefully');
      void running.close().then(() => {
        info('Shutting down');
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`traefik (lab stand-in): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
