import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { Gitea, type GiteaCombinedStatus, type GiteaComment, type GiteaPull, type GiteaStatus } from '../../src/drivers/forge';
import { JsonClient } from '../../src/drivers/http';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { seedGitea, startGitea, type GiteaSeed, type RunningGitea } from '../../lab/src/gitea';
import { tempDir } from '../helpers';

// Contract tests: Gitea 1.22.6 as the reference records it (examples in test/fixtures/reference/gitea, see
// its README) against (a) the harness's Gitea driver, fed the real answers, and (b) the lab's Gitea
// stand-in, asked the same questions the driver asks. Shapes are compared key by key and type by type.

// ---- reference fixtures ----

const FIXTURES = resolve(__dirname, '../fixtures/reference/gitea');
const ROOT = 'http://gitea.example/';
const fixtureText = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8').replaceAll('<AppURL>', ROOT);
const fixture = (name: string): any => JSON.parse(fixtureText(name));
const USER_KEYS: string[] = fixture('user-keys.json');
const REPO_KEYS: string[] = fixture('repository-keys.json');
/** omitempty pointers upstream: a repository carries at most the tracker/wiki that applies (fixtures README). */
const REPO_OPTIONAL = ['internal_tracker', 'external_tracker', 'external_wiki'];
const KEYS_ADDED_IN_1_22 = ['draft', 'review_comments', 'additions', 'deletions', 'changed_files'];
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/;

// Go pointers and slices: Gitea may send null there.
const PULL_NULLABLE = [
  'user',
  'labels',
  'milestone',
  'assignee',
  'assignees',
  'requested_reviewers',
  'merged_at',
  'merge_commit_sha',
  'merged_by',
  'base',
  'head',
  'base.repo',
  'head.repo',
  'due_date',
  'created_at',
  'updated_at',
  'closed_at',
].map((p) => `$.${p}`);
const COMMENT_NULLABLE = ['$.user', '$.assets'];
const STATUS_NULLABLE = ['$.creator'];
const COMBINED_NULLABLE = ['$.statuses', '$.repository', '$.statuses[].creator'];
const ERROR_NULLABLE = ['$.errors'];

// ---- shapes ----

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';
type Json = Record<string, unknown>;
/** A key "…" in an expected object: the reference elided more keys there. */
const ELIDED = '…';
const jsonType = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType));

interface ShapeRules {
  /** Paths ($.head.repo, $.statuses[].creator) where either side may be null. */
  nullable?: string[];
  /** Paths the actual side may leave out. */
  optional?: string[];
  /** Keys only the actual side has: reported (the default) or ignored. */
  extra?: 'report' | 'ignore';
  /** Who is who in the messages. */
  names?: [expected: string, actual: string];
}

/** How `actual` differs in shape (keys and JSON types, recursively) from `expected`, one readable line each. */
function shapeDiff(expected: unknown, actual: unknown, rules: ShapeRules = {}, path = '$'): string[] {
  const [e, a] = rules.names ?? ['Gitea', 'the stand-in'];
  const te = jsonType(expected),
    ta = jsonType(actual);
  if (te !== ta) {
    if ((te === 'null' || ta === 'null') && rules.nullable?.includes(path)) return [];
    return [`${path}: ${te} in ${e}, ${ta} in ${a}`];
  }
  if (te === 'array') return arrayDiff(expected as unknown[], actual as unknown[], rules, path);
  if (te === 'object') return objectDiff(expected as Json, actual as Json, rules, path);
  return [];
}

function objectDiff(expected: Json, actual: Json, rules: ShapeRules, path: string): string[] {
  const [e, a] = rules.names ?? ['Gitea', 'the stand-in'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(expected)) {
    if (k === ELIDED) continue;
    const p = `${path}.${k}`;
    if (Object.hasOwn(actual, k)) out.push(...shapeDiff(v, actual[k], rules, p));
    else if (!rules.optional?.includes(p)) out.push(`${p}: missing in ${a} (${jsonType(v)} in ${e})`);
  }
  if (rules.extra === 'ignore' || Object.hasOwn(expected, ELIDED)) return out;
  for (const [k, v] of Object.entries(actual)) if (!Object.hasOwn(expected, k)) out.push(`${path}.${k}: ${jsonType(v)} in ${a}, not sent by ${e}`);
  return out;
}

/** Every element of `actual` against the first of `expected` (Gitea's lists are of one type). */
function arrayDiff(expected: unknown[], actual: unknown[], rules: ShapeRules, path: string): string[] {
  if (expected.length === 0) return [];
  return [...new Set(actual.flatMap((item) => shapeDiff(expected[0], item, rules, `${path}[]`)))];
}

/** An object's keys against one of the reference's key lists (users, repositories). */
function keysDiff(keys: string[], actual: Json, path: string, optional: string[] = []): string[] {
  const missing = keys.filter((k) => !Object.hasOwn(actual, k) && !optional.includes(k)).map((k) => `${path}.${k}: missing in the stand-in`);
  const extra = Object.keys(actual)
    .filter((k) => !keys.includes(k))
    .map((k) => `${path}.${k}: in the stand-in, not sent by Gitea`);
  return [...missing, ...extra];
}

function assertSame(diffs: string[], what: string): void {
  assert.deepEqual(diffs, [], `${what} differs from the reference:\n  ${diffs.join('\n  ')}`);
}

// What the driver reads of each answer; `satisfies` keeps these in step with src/drivers/forge.ts.
const STATUS_READ = { id: 0, status: '', context: '', target_url: '', description: '', created_at: '' } satisfies GiteaStatus;
const READS = {
  pull: { number: 0, state: '', head: { ref: '', sha: '' }, html_url: '' } satisfies GiteaPull,
  comment: { id: 0, body: '', html_url: '', created_at: '', user: { login: '' } } satisfies GiteaComment,
  status: STATUS_READ,
  combined: { state: '', statuses: [STATUS_READ] } satisfies GiteaCombinedStatus,
  user: { login: '' },
};
const DRIVER_VS_GITEA: ShapeRules = { extra: 'ignore', names: ['the driver', 'Gitea'] };

// ---- the lab stand-in, seeded like the reference's examples (acme/app, PR 7) ----

const dir = tempDir('contract-gitea-');
const TOK = { bot: 'b0'.repeat(20), alice: 'a1'.repeat(20), carol: 'c0'.repeat(20), mallory: 'ee'.repeat(20), admin: 'ad'.repeat(20) };
const OTHER = '1'.repeat(40);
const THIRD = '2'.repeat(40);
const MERGED = '3'.repeat(40);
const REPO = '/api/v1/repos/acme/app';
let git: { dir: string; main: string; head: string };
let clock = new Date('2024-06-01T10:00:00Z');
let gitea: RunningGitea;

/** A real git repository for /raw: `main` with compose.yml, PR branch `bump-nginx` adding site/index.html. */
function makeGitRepo(): { dir: string; main: string; head: string } {
  const work = join(dir, 'app');
  mkdirSync(join(work, 'site'), { recursive: true });
  const run = (...args: string[]): string =>
    execFileSync('git', ['-C', work, '-c', 'user.name=lab', '-c', 'user.email=lab@lab.test', '-c', 'commit.gpgsign=false', ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir },
    }).trim();
  run('init', '-q', '-b', 'main');
  writeFileSync(join(work, 'compose.yml'), 'services: {}\n');
  run('add', 'compose.yml');
  run('commit', '-q', '-m', 'main');
  const main = run('rev-parse', 'HEAD');
  run('checkout', '-q', '-b', 'bump-nginx');
  writeFileSync(join(work, 'site', 'index.html'), '<h1>nginx</h1>\n');
  run('add', 'site/index.html');
  run('commit', '-q', '-m', 'bump nginx');
  return { dir: work, main, head: run('rev-parse', 'HEAD') };
}

function seedFor(version: string): GiteaSeed {
  return {
    version,
    users: [
      { login: 'cc-ci-bot', token: TOK.bot },
      { login: 'alice', token: TOK.alice },
      { login: 'carol', token: TOK.carol },
      { login: 'mallory', token: TOK.mallory },
      { login: 'dave' },
      { login: 'root', token: TOK.admin, admin: true },
    ],
    orgs: [{ name: 'acme', members: ['cc-ci-bot', 'alice', 'carol'], public_members: ['carol'] }],
    repos: [
      {
        owner: 'acme',
        name: 'app',
        gitDir: git.dir,
        branches: { main: git.main },
        commits: [OTHER, THIRD],
        pulls: [
          {
            number: 7,
            title: 'Bump nginx',
            user: 'alice',
            head: { ref: 'bump-nginx', sha: git.head },
            base: { ref: 'main' },
            additions: 1,
            deletions: 0,
            changed_files: 1,
          },
          { number: 8, title: 'Old change', user: 'alice', merged: true, head: { ref: 'old-change', sha: MERGED }, base: { ref: 'main' } },
        ],
      },
    ],
  };
}

async function startStandIn(version: string): Promise<RunningGitea> {
  const statePath = join(dir, `state-${version}`, 'gitea.json');
  seedGitea(statePath, seedFor(version), clock);
  return startGitea({ statePath, host: '127.0.0.1', port: 0, baseUrl: ROOT, now: () => clock });
}

before(async () => {
  git = makeGitRepo();
  gitea = await startStandIn('1.22.6');
});
after(async () => {
  await gitea.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}
async function api(method: string, path: string, opts: { token?: string; auth?: string; body?: unknown; base?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `token ${opts.token}`;
  if (opts.auth) headers.authorization = opts.auth;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await request(`${opts.base ?? gitea.url}${path}`, {
    method: method as 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await r.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

let runs = 0;
/** The harness's driver with its real HTTP client, as src/checks/e2e.ts builds it (`token` scheme). */
function driver(base: string, token: string): Gitea {
  const runDir = join(dir, `run-${++runs}`);
  return new Gitea(new JsonClient('gitea', base, `token ${token}`, new Recorder(runDir, runDir, new Redactor(), () => {}), 2000, 1), 'acme', 'app');
}

// ---- the shape helper itself ----

test('the shape helper names missing, extra, mistyped and nested differences; null only where allowed', () => {
  const real = { id: 1, head: { sha: 'x', repo: { id: 1, [ELIDED]: ELIDED } }, list: [{ a: 1 }], when: null };
  const ours = { id: '1', head: { sha: 'x', repo: { id: 2, more: true } }, list: [{ a: 1 }, { a: 'no' }], extra: 0, when: 'now' };
  assert.deepEqual(shapeDiff(real, ours, { nullable: ['$.when'] }), [
    '$.id: number in Gitea, string in the stand-in',
    '$.list[].a: number in Gitea, string in the stand-in',
    '$.extra: number in the stand-in, not sent by Gitea',
  ]);
  assert.deepEqual(shapeDiff(real, { ...ours, id: 1, list: [], extra: undefined }, { extra: 'ignore' }), ['$.when: null in Gitea, string in the stand-in']);
  assert.deepEqual(shapeDiff({ a: 1, b: 2 }, { a: 1 }, { optional: ['$.b'] }), []);
  assert.deepEqual(shapeDiff({ a: 1, b: 2 }, { a: 1 }), ['$.b: missing in the stand-in (number in Gitea)']);
  assert.deepEqual(keysDiff(['a', 'b', 'c'], { a: 1, d: 1 }, '$.user', ['c']), [
    '$.user.b: missing in the stand-in',
    '$.user.d: in the stand-in, not sent by Gitea',
  ]);
});

// ---- (a) the driver, fed Gitea's real answers ----

test('every field the driver reads is one Gitea sends, with that JSON type (1.22 and 1.21)', () => {
  const pull = fixture('pull.json');
  assertSame(shapeDiff(READS.pull, pull, DRIVER_VS_GITEA), 'GET pulls/{n} as the driver reads it');
  const pull121 = Object.fromEntries(Object.entries(pull).filter(([k]) => !KEYS_ADDED_IN_1_22.includes(k)));
  assertSame(shapeDiff(READS.pull, pull121, DRIVER_VS_GITEA), 'GET pulls/{n} (1.21) as the driver reads it');
  assertSame(shapeDiff(READS.comment, fixture('comment.json'), DRIVER_VS_GITEA), 'a comment as the driver reads it');
  assertSame(shapeDiff(READS.status, fixture('commit-status.json'), DRIVER_VS_GITEA), 'a commit status as the driver reads it');
  assert.ok(!('state' in READS.status), 'a single status has `status`, not `state`');
  assertSame(shapeDiff(READS.combined, fixture('combined-status.json'), DRIVER_VS_GITEA), 'the combined status as the driver reads it');
  assertSame(
    shapeDiff(READS.combined, fixture('combined-status-empty.json'), { ...DRIVER_VS_GITEA, nullable: ['$.statuses'] }),
    'the empty combined status as the driver reads it',
  );
  assert.ok(
    Object.keys(READS.user).every((k) => USER_KEYS.includes(k)),
    'GET /user: the driver reads login',
  );
});

interface Canned {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
interface Seen {
  method: string;
  url: string;
  authorization?: string;
}
/** A server that answers each `METHOD /path` with a canned real answer, and notes what it was asked. */
async function replay(routes: Record<string, Canned>): Promise<{ base: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    const canned = routes[`${req.method} ${url.pathname}`] ?? { status: 404, body: fixtureText('error-not-found.json') };
    const type = canned.body?.startsWith('{') || canned.body?.startsWith('[') ? { 'content-type': 'application/json;charset=utf-8' } : {};
    res.writeHead(canned.status, { ...type, ...canned.headers }).end(canned.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}/`, seen, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

test('the driver on replayed real answers: PR, comments, statuses, combined (also empty), membership 204/404/303', async (t) => {
  const status = fixture('commit-status.json');
  const sha = fixture('combined-status.json').sha as string;
  const p = '/api/v1/repos/acme/app';
  const s = await replay({
    [`GET ${p}/pulls/7`]: { status: 200, body: fixtureText('pull.json') },
    [`GET ${p}/issues/7/comments`]: { status: 200, headers: { 'x-total-count': '1' }, body: `[${fixtureText('comment.json')}]` },
    [`POST ${p}/issues/7/comments`]: { status: 201, body: fixtureText('comment.json') },
    [`GET ${p}/commits/${sha}/statuses`]: { status: 200, headers: { 'x-total-count': '1' }, body: JSON.stringify([status]) },
    [`GET ${p}/commits/${sha}/status`]: { status: 200, headers: { 'x-total-count': '1' }, body: fixtureText('combined-status.json') },
    [`GET ${p}/commits/${'0'.repeat(40)}/status`]: { status: 200, body: fixtureText('combined-status-empty.json') },
    'GET /api/v1/orgs/acme/members/alice': { status: 204 },
    'GET /api/v1/orgs/acme/members/mallory': { status: 404, body: fixtureText('error-not-found.json') },
    // What a non-member is told (§6); the body is Go's http.Redirect for a GET.
    'GET /api/v1/orgs/acme/members/carol': {
      status: 303,
      headers: { location: '/api/v1/orgs/acme/public_members/carol', 'content-type': 'text/html; charset=utf-8' },
      body: '<a href="/api/v1/orgs/acme/public_members/carol">See Other</a>.\n\n',
    },
  });
  t.after(s.close);
  const forge = driver(s.base, TOK.bot);

  const pull = await forge.pull(7);
  assert.deepEqual([pull.number, pull.state, pull.head.ref, pull.head.sha, pull.html_url], [7, 'open', 'bump-nginx', sha, `${ROOT}acme/app/pulls/7`]);
  const [comment] = await forge.comments(7, '2024-06-01T10:00:00Z');
  assert.deepEqual([comment!.id, comment!.user.login, comment!.body], [41, 'alice', '!testme']);
  assert.equal((await forge.postComment(7, '!testme')).html_url, `${ROOT}acme/app/pulls/7#issuecomment-41`);
  const [read] = await forge.statuses(sha);
  assert.deepEqual([read!.id, read!.status, read!.context], [2, 'success', 'continuous-integration/drone']);
  const combined = await forge.combined(sha);
  assert.deepEqual([combined.state, combined.statuses.map((x) => x.status)], ['success', ['success']]);
  assert.deepEqual(await forge.combined('0'.repeat(40)), { state: '', statuses: [] }, 'statuses: null becomes no statuses');

  assert.deepEqual(pick(await forge.isOrgMember('acme', 'alice')), { member: true, status: 204 });
  assert.deepEqual(pick(await forge.isOrgMember('acme', 'mallory')), { member: false, status: 404 });
  assert.deepEqual(pick(await forge.isOrgMember('acme', 'carol')), { member: false, status: 303 }, 'a 303 is reported, not followed or failed on');

  const asked = s.seen.map((x) => `${x.method} ${x.url}`);
  assert.ok(asked.includes(`GET ${p}/issues/7/comments?since=2024-06-01T10%3A00%3A00Z`), asked.join('\n'));
  assert.ok(asked.includes(`GET ${p}/commits/${sha}/statuses?page=1&limit=50`), 'statuses are paged with limit (Gitea ignores per_page), at most 50');
  assert.ok(
    s.seen.every((x) => x.authorization === `token ${TOK.bot}`),
    'the lowercase `token` scheme',
  );
});
const pick = (m: { member: boolean; status: number }) => ({ member: m.member, status: m.status });

// ---- (b) the stand-in, asked what the driver asks ----

test('auth (§1): `token` only in lowercase, bearer in any case, ?token= and ?access_token=, Basic with a token; 401 bodies', async () => {
  const auth = fixture('auth.json');
  const fill = (s: string): string => s.replaceAll('{token}', TOK.alice).replaceAll('{login}', 'alice');
  for (const c of auth.cases as { header?: string; query?: string; basic?: string; authenticated: boolean }[]) {
    const how = c.header ?? (c.query ? `?${c.query}` : `Basic ${c.basic}`);
    const r = c.header
      ? await api('GET', '/api/v1/user', { auth: fill(c.header) })
      : c.query
        ? await api('GET', `/api/v1/user?${fill(c.query)}`)
        : await api('GET', '/api/v1/user', { auth: `Basic ${Buffer.from(fill(c.basic!)).toString('base64')}` });
    if (c.authenticated) assert.deepEqual([r.status, r.json?.login], [200, 'alice'], how);
    else assert.deepEqual([r.status, r.json], [auth.unauthenticated.status, fixture(auth.unauthenticated.body)], `${how}: not recognised, so anonymous`);
  }
  const asAnonymous = await api('GET', REPO, { auth: `Token ${TOK.alice}` });
  assert.equal(asAnonymous.status, 200, '`Token X` is no error: the caller is anonymous');
  assert.equal(asAnonymous.json.permissions.push, false);
  const bad = await api('GET', '/api/v1/user', { token: 'not-a-token' });
  assert.deepEqual([bad.status, bad.json], [auth.invalidToken.status, fixture(auth.invalidToken.body)]);
  assert.equal((await api('GET', REPO, { auth: 'Bearer not-a-token' })).status, 401, 'a present but invalid token is an error, not anonymous access');
});

test('GET /user (§7): every User key, and only those', async () => {
  const me = await api('GET', '/api/v1/user', { token: TOK.bot });
  assert.equal(me.status, 200);
  assertSame(keysDiff(USER_KEYS, me.json, '$'), 'GET /user');
  assert.equal(me.json.username, me.json.login);
  assert.match(me.json.created, TIME);
});

test('GET pulls/{n} (§3): the shape of pull.json; url = html_url; head and base as Gitea fills them; merged is closed; 404', async () => {
  const pr = await api('GET', `${REPO}/pulls/7`, { token: TOK.bot });
  assert.equal(pr.status, 200);
  const p = pr.json;
  assertSame(shapeDiff(fixture('pull.json'), p, { nullable: PULL_NULLABLE }), 'GET pulls/7');
  assertSame(
    [
      ...keysDiff(USER_KEYS, p.user, '$.user'),
      ...keysDiff(REPO_KEYS, p.base.repo, '$.base.repo', REPO_OPTIONAL),
      ...keysDiff(REPO_KEYS, p.head.repo, '$.head.repo', REPO_OPTIONAL),
    ],
    'the PR poster and repositories',
  );
  assert.equal(p.url, `${ROOT}acme/app/pulls/7`, 'url is the web URL, not an API URL');
  assert.equal(p.html_url, p.url);
  assert.deepEqual([p.number, p.state, p.merged], [7, 'open', false]);
  assert.deepEqual([p.head.label, p.head.ref, p.head.sha, p.head.repo_id], ['bump-nginx', 'bump-nginx', git.head, p.base.repo_id]);
  assert.deepEqual([p.base.label, p.base.ref, p.base.sha], ['main', 'main', git.main], 'base.sha is the base branch tip');
  for (const k of ['created_at', 'updated_at']) assert.match(p[k], TIME, k);

  const merged = (await api('GET', `${REPO}/pulls/8`, { token: TOK.bot })).json;
  assert.deepEqual([merged.state, merged.merged], ['closed', true]);
  assert.match(merged.merged_at, TIME);

  const missing = await api('GET', `${REPO}/pulls/99`, { token: TOK.bot });
  assert.deepEqual([missing.status, missing.json], [404, fixture('error-not-found.json')]);
});

test('GET pulls/{n} on 1.21.11 (§3): the 1.22 fields are absent, and the driver still reads the PR', async (t) => {
  const old = await startStandIn('1.21.11');
  t.after(() => old.close());
  const p = (await api('GET', `${REPO}/pulls/7`, { token: TOK.bot, base: old.url })).json;
  const pull121 = Object.fromEntries(Object.entries(fixture('pull.json')).filter(([k]) => !KEYS_ADDED_IN_1_22.includes(k)));
  assertSame(shapeDiff(pull121, p, { nullable: PULL_NULLABLE }), 'GET pulls/7 (1.21.11)');
  assert.equal((await driver(`${old.url}/`, TOK.bot).pull(7)).head.sha, git.head);
});

test('comments (§4): POST 201 as comment.json; the list is not paged, has X-Total-Count and no Link; since is inclusive; 422, 500', async () => {
  const codes = fixture('status-codes.json');
  clock = new Date('2024-06-01T10:05:00Z');
  const posted = await api('POST', `${REPO}/issues/7/comments`, { token: TOK.alice, body: { body: '!testme' } });
  assert.equal(posted.status, codes['POST /repos/{owner}/{repo}/issues/{index}/comments'].created);
  const c = posted.json;
  assertSame(shapeDiff(fixture('comment.json'), c, { nullable: COMMENT_NULLABLE }), 'POST issues/7/comments');
  assertSame(keysDiff(USER_KEYS, c.user, '$.user'), 'the comment poster');
  assert.deepEqual([c.html_url, c.pull_request_url, c.issue_url], [`${ROOT}acme/app/pulls/7#issuecomment-${c.id}`, `${ROOT}acme/app/pulls/7`, '']);
  assert.match(c.created_at, TIME);

  const anonymous = await api('POST', `${REPO}/issues/7/comments`, { body: { body: 'x' } });
  assert.deepEqual([anonymous.status, anonymous.json], [401, fixture('error-token-required.json')]);
  assert.equal(
    (await api('POST', `${REPO}/issues/7/comments`, { token: TOK.bot, body: {} })).status,
    codes['POST /repos/{owner}/{repo}/issues/{index}/comments']['empty body'],
  );

  clock = new Date('2024-06-01T10:10:00Z');
  for (let i = 0; i < 35; i++) assert.equal((await api('POST', `${REPO}/issues/7/comments`, { token: TOK.bot, body: { body: `later ${i}` } })).status, 201);
  const list = await api('GET', `${REPO}/issues/7/comments?limit=10&page=2`, { token: TOK.bot });
  assert.equal(list.status, 200);
  assert.equal(list.json.length, 36, 'page and limit are ignored: every comment, more than the default 30');
  assertSame(shapeDiff([fixture('comment.json')], list.json, { nullable: COMMENT_NULLABLE.map((p) => p.replace('$', '$[]')) }), 'GET issues/7/comments');
  assert.deepEqual([list.headers['x-total-count'], list.headers.link], ['36', undefined]);
  const ids = list.json.map((x: { id: number }) => x.id);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
    'oldest first',
  );

  const since = await api('GET', `${REPO}/issues/7/comments?since=2024-06-01T10:10:00Z`, { token: TOK.bot });
  assert.equal(since.json.length, 35, 'since is inclusive');
  assert.equal(since.headers['x-total-count'], '35');
  assert.equal((await api('GET', `${REPO}/issues/7/comments?before=2024-06-01T10:05:00Z`)).json.length, 1, 'before is inclusive');
  assert.equal(
    (await api('GET', `${REPO}/issues/7/comments?since=2024-06-01`)).status,
    codes['GET /repos/{owner}/{repo}/issues/{index}/comments']['since or before not RFC 3339'],
  );
  const unknown = await api('GET', `${REPO}/issues/99/comments`, { token: TOK.bot });
  assert.deepEqual(
    [unknown.status, unknown.json],
    [codes['GET /repos/{owner}/{repo}/issues/{index}/comments']['unknown index'], fixture('error-internal.json')],
  );
});

test('statuses (§5, §2): `status` not `state`; ids per commit; limit pages (default 30, max 50, per_page ignored); Link and X-Total-Count as Gitea', async () => {
  const paging = fixture('paging.json');
  const post = (sha: string, state: string, context = 'cc-ci/testme') =>
    api('POST', `${REPO}/statuses/${sha}`, {
      token: TOK.bot,
      body: { state, context, target_url: ' http://drone.example/acme/app/7 ', description: 'running' },
    });
  const first = await post(OTHER, 'pending');
  assert.equal(first.status, 201);
  const s = first.json;
  assertSame(shapeDiff(fixture('commit-status.json'), s, { nullable: STATUS_NULLABLE }), 'POST statuses/{sha}');
  assertSame(keysDiff(USER_KEYS, s.creator, '$.creator'), 'the status creator');
  assert.deepEqual([s.id, s.status, s.url, s.target_url], [1, 'pending', `${ROOT}api/v1/repos/acme/app/statuses/${OTHER}`, 'http://drone.example/acme/app/7']);
  assert.equal(s.updated_at, s.created_at);
  assert.equal((await post(OTHER, 'success')).json.id, 2);
  assert.equal((await api('POST', `${REPO}/statuses/${OTHER}`, { body: { state: 'success' } })).status, 401);
  const unknownSha = await api('POST', `${REPO}/statuses/${'f'.repeat(40)}`, { token: TOK.bot, body: { state: 'success' } });
  assert.deepEqual(
    [unknownSha.status, unknownSha.json],
    [fixture('status-codes.json')['POST /repos/{owner}/{repo}/statuses/{sha}']['unknown sha'], fixture('error-internal.json')],
  );

  for (let i = 0; i < paging.example.total; i++) {
    clock = new Date(Date.parse('2024-06-01T11:00:00Z') + i * 1000);
    assert.equal((await post(git.head, 'pending', `ctx-${i % 3}`)).json.id, i + 1, 'ids count per commit');
  }
  const list = `${REPO}/statuses/${git.head}`;
  const page2 = await api('GET', `${list}?limit=10&page=2`);
  assert.equal(page2.status, paging.example.status);
  assert.equal(page2.json.length, 10);
  assertSame(shapeDiff([fixture('commit-status.json')], page2.json, { nullable: ['$[].creator'] }), 'GET statuses/{sha}');
  assert.equal(page2.headers.link, paging.example.headers.Link.replaceAll('{sha}', git.head));
  assert.equal(page2.headers['x-total-count'], paging.example.headers['X-Total-Count']);

  const byRef = `${REPO}/commits/${git.head}/statuses`;
  const page = async (query: string): Promise<Res> => api('GET', `${byRef}${query}`);
  const byDefault = await page('');
  assert.equal(byDefault.json.length, paging.defaultLimit);
  assert.deepEqual(
    byDefault.json.slice(0, 2).map((x: { id: number }) => x.id),
    [55, 54],
    'newest first',
  );
  assert.ok(byDefault.headers.link && byDefault.headers['x-total-count'], 'commits/{ref}/statuses sends Link and X-Total-Count');
  assert.equal((await page('?limit=500')).json.length, paging.maxLimit, 'limit is capped at 50');
  assert.equal((await page('?per_page=5')).json.length, paging.defaultLimit, 'per_page is not Gitea’s page size');
  assert.equal((await page('?limit=50&page=2')).json.length, 5);
  assert.equal((await page('?page=0&limit=10')).json[0].id, 55, 'page 0 is page 1');
  assert.equal((await page('?sort=leastindex&limit=1')).json[0].id, 55, 'leastindex sorts by index DESC, as Gitea does');
  assert.equal((await page('?sort=highestindex&limit=1')).json[0].id, 1, 'highestindex sorts by index ASC');
  assert.equal((await page('?state=bogus')).json.length, paging.defaultLimit, 'an unknown state filters nothing');
  assert.deepEqual((await page('?state=success')).json, []);
  const rels = String((await page('?limit=10&page=3')).headers.link)
    .match(/rel="(\w+)"/g)!
    .map((r) => r.slice(5, -1));
  assert.deepEqual(rels, paging.relOrder);

  const small = await api('GET', `${REPO}/commits/${OTHER}/statuses`);
  assert.deepEqual([small.json.length, small.headers.link, small.headers['x-total-count']], [2, undefined, '2'], 'no Link when it fits one page');
  assert.deepEqual((await api('GET', `${REPO}/commits/${'0'.repeat(40)}/statuses`)).json, [], 'an unresolvable ref is no statuses');
  assert.equal((await api('GET', `${REPO}/commits/bump-nginx/statuses?limit=1`)).json[0].id, 55, 'a branch resolves to its tip');
});

test('combined status (§5): the zero object verbatim; latest per context; error as failure; X-Total-Count', async () => {
  const empty = await api('GET', `${REPO}/commits/${THIRD}/status`);
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json, fixture('combined-status-empty.json'));
  const post = (state: string, context: string) => api('POST', `${REPO}/statuses/${THIRD}`, { token: TOK.bot, body: { state, context } });
  await post('pending', 'cc-ci/testme');
  await post('success', 'lint');
  await post('success', 'cc-ci/testme');
  const combined = await api('GET', `${REPO}/commits/${THIRD}/status`);
  const c = combined.json;
  assertSame(shapeDiff(fixture('combined-status.json'), c, { nullable: COMBINED_NULLABLE }), 'GET commits/{sha}/status');
  assertSame(keysDiff(REPO_KEYS, c.repository, '$.repository', REPO_OPTIONAL), 'the combined status repository');
  assert.deepEqual([c.state, c.sha, c.total_count, c.commit_url, c.url], ['success', THIRD, 2, '', '']);
  assert.deepEqual(
    c.statuses.map((x: { id: number; status: string }) => [x.id, x.status]).sort(),
    [
      [2, 'success'],
      [3, 'success'],
    ],
    'the latest status per context',
  );
  assert.deepEqual([combined.headers['x-total-count'], combined.headers.link], ['2', undefined]);
  await post('error', 'lint');
  assert.equal((await api('GET', `${REPO}/commits/${THIRD}/status`)).json.state, 'failure', 'error is reported as failure');
  assert.equal((await api('GET', `${REPO}/commits/${THIRD}/status?limit=1`)).json.total_count, 1, 'paged by limit');
});

test('org membership (§6): every case of org-membership.json; public_members after the 303', async () => {
  const m = fixture('org-membership.json');
  const tokens: Record<string, string | undefined> = { member: TOK.bot, 'site-admin': TOK.admin, 'non-member': TOK.mallory, anonymous: undefined };
  const users: Record<string, string> = { member: 'alice', 'non-member': 'mallory', self: 'mallory', 'other non-member': 'dave', 'unknown user': 'nobody' };
  for (const c of m.cases as { asker: string; about: string; org?: string; status: number; body?: string; location?: string }[]) {
    const org = c.org ? 'no-such-org' : 'acme';
    const username = users[c.about]!;
    const r = await api('GET', `/api/v1/orgs/${org}/members/${username}`, { token: tokens[c.asker] });
    const what = `${c.asker} asks about ${c.about}${c.org ? ` in an ${c.org}` : ''}`;
    assert.equal(r.status, c.status, what);
    if (c.body === '') assert.equal(r.text, '', what);
    else if (c.body) assert.deepEqual(r.json, fixture(c.body), what);
    if (c.location) assert.equal(r.headers.location, c.location.replace('{org}', org).replace('{username}', username), what);
  }
  const pub = m.publicMembers;
  assert.equal((await api('GET', '/api/v1/orgs/acme/public_members/carol')).status, pub['public member']);
  assert.equal((await api('GET', '/api/v1/orgs/acme/public_members/alice')).status, pub['private member']);
  const redirect = await api('GET', '/api/v1/orgs/acme/members/carol', { token: TOK.mallory });
  assert.equal((await api('GET', String(redirect.headers.location), { token: TOK.mallory })).status, 204, 'the 303 leads to public_members');
});

test('raw files (the reference is silent on /raw; §1 error body only): a file at a sha or branch; 404 as ctx.NotFound', async () => {
  const raw = async (path: string, ref: string): Promise<Res> => api('GET', `${REPO}/raw/${path}?ref=${ref}`, { token: TOK.bot });
  const atHead = await raw('site/index.html', git.head);
  assert.deepEqual([atHead.status, atHead.text], [200, '<h1>nginx</h1>\n']);
  assert.equal((await raw('compose.yml', 'main')).text, 'services: {}\n');
  for (const [path, ref] of [
    ['site/index.html', git.main],
    ['compose.yml', 'f'.repeat(40)],
  ] as const) {
    const r = await raw(path, ref);
    assert.equal(r.status, 404, `${path}@${ref}`);
    assertSame(shapeDiff(fixture('error-not-found.json'), r.json, { nullable: ERROR_NULLABLE }), `GET raw/${path}?ref=${ref}`);
  }
});

test('the driver against the stand-in: every question the harness asks Gitea', async () => {
  const bot = driver(`${gitea.url}/`, TOK.bot);
  assert.equal(await bot.whoami(), 'cc-ci-bot');
  const pull = await bot.pull(7);
  assert.deepEqual([pull.number, pull.state, pull.head.sha, pull.html_url], [7, 'open', git.head, `${ROOT}acme/app/pulls/7`]);

  clock = new Date('2024-06-01T12:00:00Z');
  const posted = await bot.postComment(7, 'contract');
  assert.equal(posted.user.login, 'cc-ci-bot');
  const since = await bot.comments(7, posted.created_at);
  assert.deepEqual(
    since.map((c) => c.id),
    [posted.id],
    'since: only what is that new',
  );

  const statuses = await bot.statuses(git.head);
  assert.equal(statuses.length, 55, 'all pages (more than the 50 of one)');
  assert.ok(
    statuses.every((s, i) => typeof s.status === 'string' && (i === 0 || s.id < statuses[i - 1]!.id)),
    'each with `status`, newest first',
  );
  const combined = await bot.combined(git.head);
  assert.deepEqual([combined.state, combined.statuses.length], ['pending', 3]);
  assert.deepEqual(await bot.combined('0'.repeat(40)), { state: '', statuses: [] });

  assert.deepEqual(pick(await bot.isOrgMember('acme', 'alice')), { member: true, status: 204 });
  assert.deepEqual(pick(await bot.isOrgMember('acme', 'mallory')), { member: false, status: 404 });
  assert.deepEqual(pick(await driver(`${gitea.url}/`, TOK.mallory).isOrgMember('acme', 'alice')), { member: false, status: 303 });

  assert.equal((await bot.rawFile('site/index.html', git.head)).text, '<h1>nginx</h1>\n');
});
