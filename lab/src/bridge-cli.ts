// Lab stand-in for cc-ci's comment-bridge (see lab/standins/comment-bridge).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { startBridge, type BridgeOptions, type RunningBridge } from './bridge';

const USAGE = `usage: comment-bridge --config FILE
FILE is JSON:
  { "gitea": { "url": URL, "tokenFile": FILE },
    "drone": { "url": URL, "tokenFile": FILE, "repo": "OWNER/NAME", "serverUrl"?: URL },
    "org": ORG, "repos": [{ "owner": O, "name": R, "pulls"?: [N, ...] }], "pollMs": N,
    "trigger"?: REGEX, "requireMembership"?: BOOL, "report"?: BOOL, "linkTo"?: "build"|"commit" }
Token files hold the token alone; relative paths are relative to FILE.
`;

const Api = z.strictObject({ url: z.url(), tokenFile: z.string().min(1) });
const Config = z.strictObject({
  gitea: Api,
  drone: Api.extend({ repo: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'expected OWNER/NAME'), serverUrl: z.url().optional() }),
  org: z.string().min(1),
  repos: z.array(z.strictObject({ owner: z.string().min(1), name: z.string().min(1), pulls: z.array(z.number().int().positive()).optional() })).min(1),
  pollMs: z.number().int().positive(),
  trigger: z.string().min(1).optional(),
  requireMembership: z.boolean().optional(),
  report: z.boolean().optional(),
  linkTo: z.enum(['build', 'commit']).optional(),
});

class UsageError extends Error {}

function load(file: string): BridgeOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  for (const api of ['gitea', 'drone'] as const) {
    const o = (raw as Record<string, unknown> | null)?.[api];
    if (o && typeof o === 'object' && 'token' in o) throw new UsageError(`${file}: ${api}.token: tokens are never inline; name a tokenFile`);
  }
  const parsed = Config.safeParse(raw);
  if (!parsed.success) throw new UsageError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const c = parsed.data;
  const token = (f: string): string => {
    const path = resolve(dirname(file), f);
    let t: string;
    try {
      t = readFileSync(path, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!t) throw new UsageError(`token file ${path} is empty`);
    return t;
  };
  let trigger: RegExp | undefined;
  try {
    trigger = c.trigger === undefined ? undefined : new RegExp(c.trigger);
  } catch (e) {
    throw new UsageError(`${file}: trigger: ${(e as Error).message}`);
  }
  return {
    gitea: { url: c.gitea.url, token: token(c.gitea.tokenFile) },
    drone: { url: c.drone.url, token: token(c.drone.tokenFile), repo: c.drone.repo, ...(c.drone.serverUrl ? { serverUrl: c.drone.serverUrl } : {}) },
    org: c.org,
    repos: c.repos,
    pollMs: c.pollMs,
    ...(trigger ? { trigger } : {}),
    ...(c.requireMembership === undefined ? {} : { requireMembership: c.requireMembership }),
    ...(c.report === undefined ? {} : { report: c.report }),
    ...(c.linkTo === undefined ? {} : { linkTo: c.linkTo }),
  };
}

async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '-h' || a === '--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let bridge: RunningBridge;
  try {
    let path: string | undefined;
    if (argv.length === 2 && argv[0] === '--config') path = argv[1];
    else if (argv.length === 1 && argv[0]!.startsWith('--config=')) path = argv[0]!.slice('--config='.length);
    if (!path) throw new UsageError('expected --config FILE');
    bridge = startBridge(load(path));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`comment-bridge: ${e.message}\n${USAGE}`);
    return 2;
  }
  return new Promise<number>((res) => {
    const stop = () => void bridge.close().then(() => res(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`comment-bridge (lab stand-in): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
