import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { seedGitea, startGitea, tokenHash, type GiteaSeed, type RunningGitea } from '../../lab/src/gitea';
import { tempDir } from '../helpers';

const dir = tempDir('gitea-test-');
const statePath = join(dir, 'state', 'gitea.json');
const ROOT = 'https://git.lab.test/';
const SHA = 'a'.repeat(40);
const TOK = { bot: 'b0'.repeat(20), alice: 'a1'.repeat(20), mallory: 'ee'.repeat(20), admin: 'ad'.repeat(20) };
const seed: GiteaSeed = {
  users: [
    { login: 'cc-ci-bot', token: TOK.bot, full_name: 'cc-ci bot', email: 'bot@lab.test' },
    { login: 'alice', token: TOK.alice },
    { login: 'mallory', token: TOK.mallory },
    { login: 'root', token: TOK.admin, admin: true },
  ],
  orgs: [{ name: 'recipe-maintainers', members: ['cc-ci-bot', 'alice'] }],
  repos: [
    {
      owner: 'recipe-maintainers',
      name: 'custom-html',
      pulls: [{ number: 1, title: 'Bump nginx', user: 'alice', head: { ref: 'bump-nginx', sha: SHA }, base: { ref: 'main' } }],
    },
    { owner: 'recipe-maintainers', name: 'cc-ci' },
  ],
};

let clock = new Date('2026-05-27T18:45:00Z');
const logs: string[] = [];
let gitea: RunningGitea;
const start = async (): Promise<RunningGitea> =>
  startGitea({ statePath, host: '127.0.0.1', port: 0, baseUrl: ROOT, log: (l) => logs.push(l), now: () => clock });
before(async () => {
  seedGitea(statePath, seed, clock);
  gitea = await start();
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
async function api(method: string, path: string, opts: { token?: string; body?: unknown; auth?: string; contentType?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `token ${opts.token}`;
  if (opts.auth) headers.authorization = opts.auth;
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const r = await request(`${gitea.url}${path}`, {
    method: method as 'GET',
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await r.body.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}
const PR = '/api/v1/repos/recipe-maintainers/custom-html';
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/;

test('version needs no auth; token auth by header, Bearer, query; bad and missing tokens get 401', async () => {
  const v = await api('GET', '/api/v1/version');
  assert.equal(v.status, 200);
  assert.match(v.json.version, /^1\.2[12]\./);
  assert.equal(v.headers['content-type'], 'application/json;charset=utf-8');

  const me = await api('GET', '/api/v1/user', { token: TOK.bot });
  assert.equal(me.status, 200);
  assert.equal(me.json.login, 'cc-ci-bot');
  assert.equal(me.json.username, 'cc-ci-bot');
  assert.equal(me.json.email, 'bot@lab.test');
  assert.equal(me.json.full_name, 'cc-ci bot');
  assert.equal(me.json.is_admin, false);
  assert.equal(me.json.active, true);
  assert.match(me.json.created, TIME);
  assert.equal((await api('GET', '/api/v1/user', { auth: `Bearer ${TOK.alice}` })).json.login, 'alice');
  assert.equal((await api('GET', '/api/v1/user', { auth: `Basic ${Buffer.from(`alice:${TOK.alice}`).toString('base64')}` })).json.login, 'alice');
  const q = await api('GET', `/api/v1/user?access_token=${TOK.mallory}`);
  assert.equal(q.json.login, 'mallory');
  assert.match(String(q.headers['x-gitea-warning']), /deprecated/);

  const bad = await api('GET', '/api/v1/user', { token: 'nope' });
  assert.equal(bad.status, 401);
  assert.deepEqual(bad.json, { message: 'user does not exist [uid: 0, name: ]', url: `${ROOT}api/swagger` });
  assert.equal((await api('GET', '/api/v1/version', { token: 'nope' })).status, 401, 'a bad token fails every API route, as in Gitea');
  const none = await api('GET', '/api/v1/user');
  assert.equal(none.status, 401);
  assert.deepEqual(none.json, { message: 'token is required', url: `${ROOT}api/swagger` });
});

test('org membership: 204 member, 404 not, 303 to public_members when the requester is no member', async () => {
  const m = '/api/v1/orgs/recipe-maintainers/members';
  const yes = await api('GET', `${m}/alice`, { token: TOK.bot });
  assert.equal(yes.status, 204);
  assert.equal(yes.text, '');
  const no = await api('GET', `${m}/mallory`, { token: TOK.bot });
  assert.equal(no.status, 404);
  assert.deepEqual(no.json, { errors: null, message: "The target couldn't be found.", url: `${ROOT}api/swagger` });
  assert.equal((await api('GET', `${m}/mallory`, { token: TOK.mallory })).status, 404, 'asking about oneself');
  const redirect = await api('GET', `${m}/alice`, { token: TOK.mallory });
  assert.equal(redirect.status, 303);
  assert.equal(redirect.headers.location, '/api/v1/orgs/recipe-maintainers/public_members/alice');
  assert.equal((await api('GET', '/api/v1/orgs/recipe-maintainers/public_members/alice')).status, 404, 'membership is private by default');
  assert.equal((await api('GET', `${m}/mallory`, { token: TOK.admin })).status, 404);
  assert.equal((await api('GET', `${m}/alice`, { token: TOK.admin })).status, 204);
  assert.equal((await api('GET', `${m}/alice`)).status, 401);
  const noUser = await api('GET', `${m}/nobody`, { token: TOK.bot });
  assert.deepEqual(noUser.json.errors, ['user does not exist [uid: 0, name: nobody]']);
  assert.equal(noUser.json.message, 'GetUserByName');
  const noOrg = await api('GET', '/api/v1/orgs/nope/members/alice', { token: TOK.bot });
  assert.equal(noOrg.status, 404);
  assert.deepEqual(noOrg.json.errors, ['org does not exist [id: 0, name: nope]']);

  const list = await api('GET', m, { token: TOK.bot });
  assert.deepEqual(
    list.json.map((u: { login: string }) => u.login),
    ['alice', 'cc-ci-bot'],
  );
  assert.equal(list.headers['x-total-count'], '2');
  assert.deepEqual((await api('GET', m, { token: TOK.mallory })).json, [], 'outsiders see public members only');
});

test('repo and pull request JSON carry the real shapes', async () => {
  const repo = await api('GET', PR);
  assert.equal(repo.status, 200);
  assert.equal(repo.json.full_name, 'recipe-maintainers/custom-html');
  assert.equal(repo.json.html_url, `${ROOT}recipe-maintainers/custom-html`);
  assert.equal(repo.json.clone_url, `${ROOT}recipe-maintainers/custom-html.git`);
  assert.equal(repo.json.ssh_url, 'git@git.lab.test:recipe-maintainers/custom-html.git');
  assert.deepEqual(repo.json.permissions, { admin: false, push: false, pull: true });
  assert.deepEqual((await api('GET', PR, { token: TOK.alice })).json.permissions, { admin: false, push: true, pull: true });
  assert.equal((await api('GET', '/api/v1/repos/recipe-maintainers/nope')).status, 404);

  const pr = await api('GET', `${PR}/pulls/1`, { token: TOK.bot });
  assert.equal(pr.status, 200);
  const p = pr.json;
  assert.equal(p.number, 1);
  assert.equal(p.state, 'open');
  assert.equal(p.title, 'Bump nginx');
  assert.equal(p.user.login, 'alice');
  assert.equal(p.user.email, 'alice@noreply.git.lab.test', 'posters are shown as to an anonymous caller');
  assert.deepEqual([p.head.label, p.head.ref, p.head.sha, p.head.repo.full_name], ['bump-nginx', 'bump-nginx', SHA, 'recipe-maintainers/custom-html']);
  assert.equal(p.base.ref, 'main');
  assert.match(p.base.sha, /^[0-9a-f]{40}$/);
  assert.equal(p.html_url, `${ROOT}recipe-maintainers/custom-html/pulls/1`);
  assert.equal(p.url, p.html_url);
  assert.equal(p.diff_url, `${p.html_url}.diff`);
  assert.equal(p.mergeable, true);
  assert.equal(p.merged, false);
  assert.equal(p.merged_at, null);
  assert.match(p.created_at, TIME);
  const open = await api('GET', `${PR}/pulls?state=open`);
  assert.deepEqual(
    open.json.map((x: { number: number }) => x.number),
    [1],
  );
  assert.equal(open.headers['x-total-count'], '1');
  assert.deepEqual((await api('GET', `${PR}/pulls?state=closed`)).json, []);
  assert.equal((await api('GET', `${PR}/pulls/9`)).status, 404);
});

test('comments: POST then GET, since/before filtering, paging as Gitea (none per issue, page/limit per repo)', async () => {
  const c = await api('POST', `${PR}/issues/1/comments`, { token: TOK.mallory, body: { body: '!testme' } });
  assert.equal(c.status, 201);
  assert.equal(c.json.body, '!testme');
  assert.equal(c.json.user.login, 'mallory');
  assert.equal(c.json.pull_request_url, `${ROOT}recipe-maintainers/custom-html/pulls/1`);
  assert.equal(c.json.issue_url, '');
  assert.equal(c.json.html_url, `${ROOT}recipe-maintainers/custom-html/pulls/1#issuecomment-${c.json.id}`);
  assert.deepEqual(Object.keys(c.json), [
    'id',
    'html_url',
    'pull_request_url',
    'issue_url',
    'user',
    'original_author',
    'original_author_id',
    'body',
    'assets',
    'created_at',
    'updated_at',
  ]);
  assert.match(c.json.created_at, TIME);
  assert.equal(Date.parse(c.json.created_at), clock.getTime());
  if (new Date().getTimezoneOffset() === 0) assert.equal(c.json.created_at, '2026-05-27T18:45:00Z');
  const one = await api('GET', `${PR}/issues/comments/${c.json.id}`);
  assert.deepEqual(one.json, c.json);

  assert.equal((await api('POST', `${PR}/issues/1/comments`, { body: { body: 'x' } })).status, 401);
  const empty = await api('POST', `${PR}/issues/1/comments`, { token: TOK.bot, body: {} });
  assert.equal(empty.status, 422);
  assert.equal(empty.json.message, '[Body]: Required');
  assert.equal((await api('POST', `${PR}/issues/99/comments`, { token: TOK.bot, body: { body: 'x' } })).status, 500, 'Gitea answers an unknown index with 500');

  for (let i = 0; i < 19; i++) assert.equal((await api('POST', `${PR}/issues/1/comments`, { token: TOK.bot, body: { body: `early ${i}` } })).status, 201);
  clock = new Date('2026-05-27T18:50:00Z');
  const late = await Promise.all(
    Array.from({ length: 20 }, (_, i) => api('POST', `${PR}/issues/1/comments`, { token: TOK.alice, body: { body: `late ${i}` } })),
  );
  assert.ok(late.every((r) => r.status === 201));
  assert.equal(new Set(late.map((r) => r.json.id)).size, 20, 'concurrent posts get distinct ids');

  const all = await api('GET', `${PR}/issues/1/comments?limit=10&page=2`, { token: TOK.bot });
  assert.equal(all.json.length, 40, 'issueGetComments ignores page/limit, as Gitea does');
  assert.equal(all.headers['x-total-count'], '40');
  assert.equal(all.headers.link, undefined);
  assert.deepEqual(
    all.json.map((x: { id: number }) => x.id),
    [...all.json.map((x: { id: number }) => x.id)].sort((a, b) => a - b),
  );
  const since = await api('GET', `${PR}/issues/1/comments?since=${encodeURIComponent('2026-05-27T18:47:00Z')}`);
  assert.equal(since.json.length, 20);
  assert.ok(since.json.every((x: { body: string }) => x.body.startsWith('late')));
  assert.equal((await api('GET', `${PR}/issues/1/comments?since=2026-05-27T20:50:00%2B02:00`)).json.length, 20, 'since is inclusive, offsets honoured');
  assert.equal((await api('GET', `${PR}/issues/1/comments?before=2026-05-27T18:46:00Z`)).json.length, 20);
  const badTime = await api('GET', `${PR}/issues/1/comments?since=yesterday`);
  assert.equal(badTime.status, 422);
  assert.match(badTime.json.message, /^parsing time "yesterday"/);

  const page2 = await api('GET', `${PR}/issues/comments?limit=15&page=2`);
  assert.equal(page2.json.length, 15);
  assert.equal(page2.headers['x-total-count'], '40');
  assert.equal(page2.json[0].id, all.json[15].id);
  assert.equal((await api('GET', `${PR}/issues/comments?limit=15`)).json.length, 40, 'without page, Gitea returns everything');

  const bot = all.json.find((x: { user: { login: string } }) => x.user.login === 'cc-ci-bot');
  assert.equal((await api('DELETE', `${PR}/issues/comments/${bot.id}`, { token: TOK.mallory })).status, 403);
  assert.equal((await api('DELETE', `${PR}/issues/comments/${bot.id}`, { token: TOK.bot })).status, 204);
  const gone = await api('GET', `${PR}/issues/comments/${bot.id}`);
  assert.equal(gone.status, 404);
  assert.deepEqual(gone.json.errors, [`comment does not exist [id: ${bot.id}, issue_id: 0]`]);
  assert.equal((await api('GET', `${PR}/pulls/1`)).json.comments, 39);
});

test('statuses: pending then success, combined latest per context, list paging with Link, validation', async () => {
  const post = (token: string, body: unknown, sha = SHA) => api('POST', `${PR}/statuses/${sha}`, { token, body });
  const pending = await post(TOK.bot, { state: 'pending', target_url: 'https://drone.lab.test/cc-ci/1', description: 'running', context: 'cc-ci/testme' });
  assert.equal(pending.status, 201);
  assert.deepEqual(Object.keys(pending.json), ['id', 'status', 'target_url', 'description', 'url', 'context', 'creator', 'created_at', 'updated_at']);
  assert.equal(pending.json.id, 1);
  assert.equal(pending.json.status, 'pending');
  assert.equal(pending.json.creator.login, 'cc-ci-bot');
  assert.equal(pending.json.url, `${ROOT}api/v1/repos/recipe-maintainers/custom-html/statuses/${SHA}`);
  assert.equal(pending.json.updated_at, pending.json.created_at);
  clock = new Date('2026-05-27T18:55:00Z');
  const success = await post(TOK.bot, { state: 'success', target_url: 'https://drone.lab.test/cc-ci/1', description: 'passed', context: 'cc-ci/testme' });
  assert.equal(success.json.id, 2);

  let combined = await api('GET', `${PR}/commits/${SHA}/status`);
  assert.equal(combined.status, 200);
  assert.equal(combined.json.state, 'success');
  assert.equal(combined.json.sha, SHA);
  assert.equal(combined.json.total_count, 1);
  assert.deepEqual(
    combined.json.statuses.map((s: { id: number; status: string }) => [s.id, s.status]),
    [[2, 'success']],
  );
  assert.equal(combined.json.repository.full_name, 'recipe-maintainers/custom-html');
  assert.deepEqual((await api('GET', `${PR}/commits/bump-nginx/status`)).json.statuses, combined.json.statuses, 'branch names resolve');

  await post(TOK.alice, { state: 'pending', context: 'lint' });
  combined = await api('GET', `${PR}/commits/${SHA.slice(0, 10)}/status`);
  assert.equal(combined.json.state, 'pending');
  assert.equal(combined.json.total_count, 2);
  await post(TOK.alice, { state: 'error', context: 'lint' });
  assert.equal((await api('GET', `${PR}/commits/${SHA}/status`)).json.state, 'failure', 'error combines to failure');
  const nothing = await api('GET', `${PR}/commits/${'0'.repeat(40)}/status`);
  assert.deepEqual(nothing.json, { state: '', sha: '', total_count: 0, statuses: null, repository: null, commit_url: '', url: '' });

  assert.equal((await post(TOK.mallory, { state: 'success', context: 'cc-ci/testme' })).status, 403);
  assert.equal((await api('POST', `${PR}/statuses/${SHA}`, { body: { state: 'success' } })).status, 401);
  const notString = await post(TOK.bot, { state: 5, context: 'x' });
  assert.equal(notString.status, 422);
  assert.match(notString.json.message, /^\[\]: json: cannot unmarshal number into Go struct field CreateStatusOption\.state/);
  const noType = await api('POST', `${PR}/statuses/${SHA}`, { token: TOK.bot, body: 'state=success', contentType: 'text/plain' });
  assert.equal(noType.status, 422);
  assert.equal(noType.json.message, '[]: Unsupported Content-Type');
  assert.equal((await post(TOK.bot, { state: 'bogus', context: 'odd' })).status, 201, 'Gitea 1.21/1.22 stores any state string');
  assert.equal((await post(TOK.bot, { state: 'success' }, 'f'.repeat(40))).status, 500, 'unknown commit: 500, as Gitea');

  for (let i = 0; i < 50; i++) await post(TOK.bot, { state: 'pending', context: `ctx-${i % 3}` });
  const list = await api('GET', `/api/v1/repos/recipe-maintainers/custom-html/statuses/${SHA}?limit=10&page=2`);
  assert.equal(list.json.length, 10);
  assert.equal(list.headers['x-total-count'], '55');
  const base = `${ROOT}api/v1/repos/recipe-maintainers/custom-html/statuses/${SHA}`;
  assert.equal(
    list.headers.link,
    [
      `<${base}?limit=10&page=3>; rel="next"`,
      `<${base}?limit=10&page=6>; rel="last"`,
      `<${base}?limit=10&page=1>; rel="first"`,
      `<${base}?limit=10&page=1>; rel="prev"`,
    ].join(','),
  );
  const first = await api('GET', `${PR}/commits/${SHA}/statuses`);
  assert.equal(first.json.length, 30, 'default limit 30');
  assert.equal(first.json[0].id, 55, 'newest first');
  assert.equal(
    first.headers.link,
    `<${ROOT}api/v1/repos/recipe-maintainers/custom-html/commits/${SHA}/statuses?page=2>; rel="next",<${ROOT}api/v1/repos/recipe-maintainers/custom-html/commits/${SHA}/statuses?page=2>; rel="last"`,
  );
  const capped = await api('GET', `${PR}/commits/${SHA}/statuses?limit=500&page=2`);
  assert.equal(capped.json.length, 5, 'limit is capped at 50');
  assert.match(String(capped.headers.link), /limit=500&page=1>; rel="first",.*rel="prev"$/);
  assert.equal((await api('GET', `${PR}/commits/${SHA}/statuses?sort=oldest&limit=1`)).json[0].id, 1);
  assert.equal((await api('GET', `${PR}/commits/${SHA}/statuses?state=success`)).json.length, 1);
});

test('unknown routes 404 like Gitea, wrong methods 405; the log has no token', async () => {
  const nf = await api('GET', '/api/v1/nope', { token: TOK.bot });
  assert.equal(nf.status, 404);
  assert.equal(nf.text, '404 page not found\n');
  const na = await api('DELETE', '/api/v1/version');
  assert.equal(na.status, 405);
  assert.equal(na.headers.allow, 'GET');
  await api('GET', `/api/v1/user?token=${TOK.alice}`);
  assert.ok(logs.some((l) => /^router: completed GET \/api\/v1\/user for .*, 200 OK in \d+\.\dms$/.test(l)));
  assert.ok(logs.some((l) => l.includes('DELETE /api/v1/version') && l.includes(' 405 ')));
  assert.ok(logs.every((l) => !Object.values(TOK).some((t) => l.includes(t))));
});

test('state survives a restart; the file holds token hashes, never tokens', async () => {
  const comments = (await api('GET', `${PR}/issues/1/comments`)).json as { id: number }[];
  const before = comments.length;
  await gitea.close();
  gitea = await start();
  assert.equal((await api('GET', `${PR}/issues/1/comments`)).json.length, before);
  assert.equal(
    (await api('GET', `${PR}/commits/${SHA}/status`)).json.statuses.find((s: { context: string }) => s.context === 'cc-ci/testme').status,
    'success',
  );
  const next = await api('POST', `${PR}/issues/1/comments`, { token: TOK.bot, body: { body: 'after restart' } });
  assert.equal(next.status, 201);
  assert.ok(next.json.id > Math.max(...comments.map((x) => x.id)), 'ids continue after a restart');
  const file = readFileSync(statePath, 'utf8');
  for (const t of Object.values(TOK)) {
    assert.ok(!file.includes(t), 'no plain token in the state file');
    assert.ok(file.includes(tokenHash(t)));
  }
});

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

test('the CLI wrapper seeds, serves /api/v1/version and exits 0 on SIGTERM', async () => {
  const bin = resolve(__dirname, '../../lab/standins/gitea');
  const state = join(dir, 'cli.json');
  const seeded = spawn(bin, ['seed', '--state', state], { stdio: ['pipe', 'pipe', 'pipe'] });
  seeded.stdin.end(JSON.stringify(seed));
  assert.equal(await new Promise((r) => seeded.on('close', r)), 0);
  const port = await freePort();
  const web = spawn(bin, ['web', '--port', String(port), '--host', '127.0.0.1', '--state', state, '--root-url', ROOT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  web.stdout.on('data', (d: Buffer) => (out += d.toString()));
  web.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => web.on('close', r));
  for (let i = 0; !out.includes('Listen:'); i++) {
    assert.ok(i < 200, `gitea web did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const r = await request(`http://127.0.0.1:${port}/api/v1/version`);
  assert.equal(r.statusCode, 200);
  assert.match(((await r.body.json()) as { version: string }).version, /^1\.2/);
  web.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(out, /router: completed GET \/api\/v1\/version/);
});
