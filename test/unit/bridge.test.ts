import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { startBridge, type BridgeOptions } from '../../lab/src/bridge';
import { startDrone } from '../../lab/src/drone';
import { tempDir } from '../helpers';

const dir = tempDir('bridge-test-');
after(() => rmSync(dir, { recursive: true, force: true }));

const GITEA_TOKEN = 'gitea-secret-token';
const DRONE_TOKEN = 'drone-secret-token';
const ORG = 'recipe-maintainers';
const RECIPE = 'custom-html';
const HEAD = 'a'.repeat(40);
const BOT = 'cc-ci-bot';

interface Comment {
  id: number;
  body: string;
  user: { login: string };
  created_at: string;
  updated_at: string;
}

/** A minimal Gitea: one repo with PR #1, its comments, commit statuses and org members. */
async function fakeGitea(members: string[]) {
  const comments: Comment[] = [];
  const statuses: { sha: string; state: string; target_url: string; description: string; context: string }[] = [];
  const seconds = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
  let id = 100;
  const add = (login: string, body: string, at = new Date()): number => {
    comments.push({ id: ++id, body, user: { login }, created_at: seconds(at), updated_at: seconds(new Date()) });
    return id;
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://gitea');
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (req.headers.authorization !== `token ${GITEA_TOKEN}`) return send(401, { message: 'token is required' });
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const repo = `/api/v1/repos/${ORG}/${RECIPE}`;
      const p = url.pathname;
      let m: RegExpExecArray | null;
      if (req.method === 'GET' && p === `${repo}/pulls`)
        return send(
          200,
          url.searchParams.get('state') === 'open' && url.searchParams.get('page') !== '2'
            ? [{ number: 1, state: 'open', head: { sha: HEAD, ref: 'feature' } }]
            : [],
        );
      if (req.method === 'GET' && p === `${repo}/pulls/1`) return send(200, { number: 1, state: 'open', head: { sha: HEAD, ref: 'feature' } });
      if (req.method === 'GET' && p === `${repo}/issues/1/comments`) {
        const since = url.searchParams.get('since');
        return send(
          200,
          comments.filter((c) => !since || Date.parse(c.updated_at) >= Date.parse(since)),
        );
      }
      if (req.method === 'POST' && p === `${repo}/issues/1/comments`) {
        const cid = add(BOT, (JSON.parse(data) as { body: string }).body);
        return send(
          201,
          comments.find((c) => c.id === cid),
        );
      }
      if (req.method === 'POST' && (m = /^\/api\/v1\/repos\/[^/]+\/[^/]+\/statuses\/([0-9a-f]{40})$/.exec(p))) {
        statuses.push({ sha: m[1]!, ...(JSON.parse(data) as Omit<(typeof statuses)[number], 'sha'>) });
        return send(201, { id: statuses.length });
      }
      if (req.method === 'GET' && (m = /^\/api\/v1\/orgs\/([^/]+)\/members\/([^/]+)$/.exec(p)))
        return send(m[1] === ORG && members.includes(m[2]!) ? 204 : 404);
      send(404, { message: 'not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    comments,
    statuses,
    add,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

let n = 0;
async function world(t: TestContext, opts: { pipeline?: string[]; bridge?: Partial<BridgeOptions> } = {}) {
  const gitea = await fakeGitea(['alice', BOT]);
  const drone = await startDrone({
    statePath: join(dir, `drone-${++n}.json`),
    serverUrl: 'https://drone.lab.test',
    tokens: { [DRONE_TOKEN]: BOT },
    pipeline: opts.pipeline ?? ['bash', '-c', 'echo "PR=$PR RECIPE=$RECIPE REF=$REF QUICK=$QUICK"'],
    workDir: join(dir, 'ws'),
  });
  gitea.add('alice', '!testme', new Date(Date.now() - 3_600_000)); // an old comment, edited just now
  const logs: string[] = [];
  const bridge = startBridge({
    gitea: { url: gitea.url, token: GITEA_TOKEN },
    drone: { url: drone.url, token: DRONE_TOKEN, repo: `${ORG}/cc-ci`, serverUrl: 'https://drone.lab.test' },
    org: ORG,
    repos: [{ owner: ORG, name: RECIPE }],
    pollMs: 30,
    log: (l) => logs.push(l),
    ...opts.bridge,
  });
  t.after(async () => {
    await bridge.close();
    await drone.close();
    await gitea.close();
    assert.ok(!logs.join('\n').includes(GITEA_TOKEN) && !logs.join('\n').includes(DRONE_TOKEN), 'no token in the log');
  });
  const builds = async (): Promise<any[]> => {
    const res = await fetch(`${drone.url}/api/repos/${ORG}/cc-ci/builds`, { headers: { Authorization: `Bearer ${DRONE_TOKEN}` } });
    return (await res.json()) as any[];
  };
  const build = async (number: number): Promise<any> => {
    const res = await fetch(`${drone.url}/api/repos/${ORG}/cc-ci/builds/${number}`, { headers: { Authorization: `Bearer ${DRONE_TOKEN}` } });
    return res.json();
  };
  return { gitea, drone, logs, builds, build };
}

async function until<T>(what: string, f: () => T | Promise<T>, ms = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const settle = () => new Promise((r) => setTimeout(r, 400));
const botComments = (w: { gitea: { comments: Comment[] } }) => w.gitea.comments.filter((c) => c.user.login === BOT && /^[✅❌]/.test(c.body));

test('!testme by a member: one build with PR/RECIPE/REF, pending with the link, then success and a comment', async (t) => {
  const w = await world(t);
  await settle();
  assert.deepEqual(await w.builds(), [], 'a comment from before the bridge started is ignored');
  w.gitea.add('alice', '  !testme\n');
  const done = await until('the result comment', () => botComments(w)[0]);
  const [b] = await w.builds();
  assert.equal(b.event, 'custom');
  assert.deepEqual(b.params, { PR: '1', RECIPE, REF: HEAD, QUICK: 'false' });
  assert.equal(b.source, 'main');
  // The build's page ({server}/{repo}/{number}), not Drone's `link` (its commit).
  const link = `https://drone.lab.test/${ORG}/cc-ci/${b.number}`;
  assert.notEqual(b.link, link);
  assert.equal((await w.build(b.number)).status, 'success');
  assert.deepEqual(
    w.gitea.statuses.map((s) => [s.sha, s.state, s.target_url, s.context]),
    [
      [HEAD, 'pending', link, 'cc-ci/testme'],
      [HEAD, 'success', link, 'cc-ci/testme'],
    ],
  );
  assert.equal(done.body, `✅ \`!testme\` passed: ${link}`);
  await settle();
  assert.equal((await w.builds()).length, 1, 'exactly one build, even after more polls');
  assert.equal(botComments(w).length, 1);
});

test("!testme --quick passes QUICK=true (posted by the bridge's own account, as the E2E bot does)", async (t) => {
  const w = await world(t);
  w.gitea.add(BOT, '!testme --quick');
  const [b] = await until('a build', () => w.builds().then((l) => (l.length ? l : undefined)));
  assert.equal(b.params.QUICK, 'true');
  assert.match((await until('the result comment', () => botComments(w)[0])).body, /^✅ `!testme --quick` passed: /);
});

test('lookalikes and non-members start nothing', async (t) => {
  const w = await world(t);
  w.gitea.add('alice', '!testmexyz');
  w.gitea.add('alice', 'please !testme');
  w.gitea.add('alice', '!testme --quick now');
  w.gitea.add('mallory', '!testme');
  await until('the non-member to be seen', () => w.logs.some((l) => /by mallory ignored: not a member/.test(l)));
  await settle();
  assert.deepEqual(await w.builds(), []);
  assert.deepEqual(w.gitea.statuses, []);
  assert.deepEqual(botComments(w), []);
  assert.ok(w.logs.some((l) => /ignored: not a command \("!testmexyz"\)/.test(l)));
});

test('a failing pipeline reports failure', async (t) => {
  const w = await world(t, { pipeline: ['bash', '-c', 'echo "::step test"; echo broken; exit 1'] });
  w.gitea.add('alice', '!testme');
  const c = await until('the result comment', () => botComments(w)[0]);
  const [b] = await w.builds();
  assert.equal(b.status, 'failure');
  const link = `https://drone.lab.test/${ORG}/cc-ci/${b.number}`;
  assert.deepEqual(
    w.gitea.statuses.map((s) => [s.state, s.target_url]),
    [
      ['pending', link],
      ['failure', link],
    ],
  );
  assert.equal(c.body, `❌ \`!testme\` failed: ${link}`);
});

test('fault: requireMembership false fires for a non-member', async (t) => {
  const w = await world(t, { bridge: { requireMembership: false } });
  w.gitea.add('mallory', '!testme');
  await until('the result comment', () => botComments(w)[0]);
  assert.equal((await w.builds()).length, 1);
});

test('fault: a lookalike trigger fires on !testmexyz', async (t) => {
  const w = await world(t, { bridge: { trigger: /!testme/ } });
  w.gitea.add('alice', '!testmexyz');
  await until('the result comment', () => botComments(w)[0]);
  await settle();
  assert.equal((await w.builds()).length, 1, 'its own result comment does not trigger it again');
});

test('fault: report false posts nothing', async (t) => {
  const w = await world(t, { bridge: { report: false } });
  w.gitea.add('alice', '!testme');
  const [b] = await until('a build', () => w.builds().then((l) => (l.length ? l : undefined)));
  await until('the build to end', async () => (await w.build(b.number)).status === 'success');
  await until('the bridge to see the end', () => w.logs.some((l) => /ended success \(not reported\)/.test(l)));
  await settle();
  assert.deepEqual(w.gitea.statuses, []);
  assert.deepEqual(botComments(w), []);
});

test('the comment-bridge command reads tokens from files, never inline', async () => {
  const cli = resolve(__dirname, '../../lab/standins/comment-bridge');
  const run = (config: unknown) =>
    new Promise<{ code: number | null; err: string }>((res) => {
      const file = join(dir, `bridge-${++n}.json`);
      writeFileSync(file, JSON.stringify(config));
      const p = spawn(cli, ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.on('exit', (code) => res({ code, err }));
    });
  const base = {
    gitea: { url: 'http://127.0.0.1:1', tokenFile: 'g' },
    drone: { url: 'http://127.0.0.1:1', tokenFile: 'd', repo: `${ORG}/cc-ci` },
    org: ORG,
    repos: [{ owner: ORG, name: RECIPE }],
    pollMs: 1000,
  };
  const inline = await run({ ...base, gitea: { url: 'http://127.0.0.1:1', token: GITEA_TOKEN } });
  assert.equal(inline.code, 2);
  assert.match(inline.err, /gitea\.token: tokens are never inline/);
  assert.ok(!inline.err.includes(GITEA_TOKEN));
  const missing = await run(base);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read token file .*\/g: ENOENT/);
});
